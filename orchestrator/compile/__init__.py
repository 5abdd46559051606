"""Compile a Gristmill pipeline for another orchestrator (TFX's ``*DagRunner`` family).

Every target turns each node into one task running ``gristmill run-node FILE NODE --run-id
RUN`` (see :mod:`gristmill.orchestrator.run_node`) in the Gristmill environment, wired by
the pipeline's edges. ``AirflowDagRunner`` writes an Airflow 3 DAG file;
``KubeflowV2DagRunner`` writes a KFP v2 pipeline spec. Neither imports Airflow or kfp.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "AirflowDagRunner": "gristmill.orchestrator.compile.airflow",
    "AirflowDagConfig": "gristmill.orchestrator.compile.airflow",
    "KubeflowV2DagRunner": "gristmill.orchestrator.compile.kfp",
    "KubeflowV2DagRunnerConfig": "gristmill.orchestrator.compile.kfp",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gristmill.orchestrator.compile' has no attribute {name!r}")
