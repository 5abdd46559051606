"""ExampleGen: files or any Beam source -> split Parquet Examples.
"""
