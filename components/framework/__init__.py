"""The component framework: specs, executors, ``@component``, Cond predicates, container
components, and the contracts two or more components share (statistics, schema, anomalies,
blessing, training arguments, HTML helpers, the MLflow tracking store).
"""
