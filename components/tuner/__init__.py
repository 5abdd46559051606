"""Tuner: hyperparameter search (optuna) over a Trainer-style run.
"""
