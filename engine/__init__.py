"""Gristmill tensor engine: PyTorch data loading, training, models, export. Depends on torch, numpy, pyarrow only."""
