"""Pusher: copies a blessed model to its destination and registers it in MLflow.
"""
