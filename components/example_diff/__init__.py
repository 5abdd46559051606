"""ExampleDiff: row-by-row comparison of two Examples artifacts.
"""
