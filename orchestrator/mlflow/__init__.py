"""Gristmill's MLflow side: how pipeline runs are shown in MLflow and how its UI is served.

``ui_app`` serves MLflow's UI opening in model-training view; ``conventions`` turns what a
node did into MLflow's own notions (dataset inputs, flattened params, logged models, system
metrics); ``trials`` makes the Tuner's trials nested runs; ``batch`` buffers one node's
params, metrics and tags into few ``log_batch`` calls; ``replayer`` writes a journal through
a writer: ``client_writer`` (MLflow's client, the reference) or ``sqlite_writer`` with
``sqlite_models`` (MLflow's SQLite schema with :mod:`sqlite3`, no MLflow import), both held to
MLflow's acceptance rules (:mod:`gristmill.metadata.mlflow_rules`). The journal and its
replay are
:mod:`gristmill.orchestrator.mlflow_mirror` and :mod:`gristmill.orchestrator.mlflow_replay`.
"""
