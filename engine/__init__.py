"""Gristmill tensor engine: PyTorch data loading, training, models, export.

Depends on torch, numpy and pyarrow only (anything else is imported lazily), so it runs on
a bare GPU host.
"""
