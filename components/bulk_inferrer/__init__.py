"""BulkInferrer: batch predictions of a model over Examples.
"""
