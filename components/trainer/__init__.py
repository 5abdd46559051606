"""Trainer: PyTorch training of a user ``run_fn`` or a built-in model; exports the bundle.
"""
