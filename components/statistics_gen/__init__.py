"""StatisticsGen: per-split, per-feature statistics of Examples.
"""
