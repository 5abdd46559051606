"""DistributionValidator: statistics of two splits or spans compared -> anomalies.
"""
