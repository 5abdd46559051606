"""Evaluator: metrics overall and per slice, validated against thresholds -> blessing.
"""
