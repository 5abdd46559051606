"""Helpers of the pipeline tests: run the ``gristmill`` CLI and read its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PENGUIN = REPO / "pipelines" / "penguin" / "pipeline.py"
UNLABELLED_CSV = REPO / "pipelines" / "penguin" / "data" / "unlabelled" / "penguins.csv"


@dataclass
class CliRun:
    """One ``gristmill run --json`` invocation."""

    returncode: int
    result: dict[str, Any]
    stderr: str

    def component(self, name: str) -> dict[str, Any]:
        """The JSON entry of one component."""
        return next(c for c in self.result["components"] if c["name"] == name)

    def output_uri(self, name: str, key: str) -> str:
        """The uri of a component's first output artifact under ``key``."""
        return self.component(name)["outputs"][key][0]["uri"]


@dataclass
class PenguinRuns:
    """The session's two penguin runs and where they live."""

    home: Path
    env: dict[str, str]
    cold: CliRun
    cached: CliRun


def gristmill_env(home: Path) -> dict[str, str]:
    """The environment for a CLI subprocess writing under ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRISTMILL_")}
    env.update(GRISTMILL_HOME=str(home), GRISTMILL_MLFLOW_MIRROR="sync",
               PYTHONUNBUFFERED="1")
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> CliRun:
    """Run ``gristmill ARGS --json`` and parse the JSON object on its last stdout line."""
    done = subprocess.run([sys.executable, "-m", "gristmill.orchestrator.cli", *args, "--json"],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    lines = done.stdout.strip().splitlines()
    assert lines, f"gristmill {' '.join(args)} printed nothing; stderr:\n{done.stderr[-4000:]}"
    return CliRun(done.returncode, json.loads(lines[-1]), done.stderr)
