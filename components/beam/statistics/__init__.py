"""The statistics engine (TFDV's role): StatisticsGen and Transform both run it on Beam.
"""
