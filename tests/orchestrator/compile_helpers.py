"""Shared by the compile tests: the test pipeline file, and running nodes' commands for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DAG_PIPELINE = Path(__file__).resolve().parent / "dag_pipeline.py"
#: The gristmill executable of this environment (what a compiled task would run).
GRISTMILL = str(Path(sys.executable).parent / "gristmill")
TOOL_VENVS = Path(__file__).resolve().parents[2] / "build"
NODES = ["Source", "gated", "after", "sized"]
EDGES = {("Source", "gated"), ("gated", "after"), ("Source", "sized")}


def task_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment a worker gives a task: this interpreter's, plus the test fakes."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("GRISTMILL_METADATA_URL", "GRISTMILL_ROOT", "GRISTMILL_RUN_ID")}
    return {**env, "PYTHONPATH": str(DAG_PIPELINE.parent), "GRISTMILL_HOME": str(home),
            "GRISTMILL_MLFLOW_MIRROR": "off", **extra}


def run(command: list[str], env: dict[str, str],
        timeout: float = 420) -> subprocess.CompletedProcess:
    """Run one task's command line as the scheduler would (no shell unless it asks)."""
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
