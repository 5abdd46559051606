"""ExampleValidator: statistics checked against a schema -> anomalies.
"""
