"""Defining a pipeline must stay cheap: component classes import no heavy ML library.

Beam, torch and MLflow are imported by the executors when a component runs (a fully cached
run needs none of them), so ``gristmill run`` starts fast and a cached re-run stays under a
second or two.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gristmill.components import _LAZY

pytestmark = pytest.mark.unit

HEAVY = ("apache_beam", "torch", "mlflow", "onnx", "onnxruntime", "sklearn", "scipy", "optuna",
         "ray")
COMPONENTS_DIR = Path(__file__).resolve().parents[2] / "components"
#: every component package's spec and config modules, plus the shared config modules
CONFIG_MODULES = tuple(sorted(
    [f"{p.parent.name}.{p.stem}" for p in COMPONENTS_DIR.glob("*/component.py")]
    + [f"{p.parent.name}.{p.stem}" for p in COMPONENTS_DIR.glob("*/config.py")]
    + ["framework.trainer_config", "tuner.space", "beam.statistics.options"]))

CODE = f"""
import json, sys
import gristmill.components as components
for name in {sorted(_LAZY)!r}:
    cls = getattr(components, name)
    getattr(cls, "PARAMETERS", None)
import importlib
for module in {CONFIG_MODULES!r}:
    importlib.import_module("gristmill.components." + module)
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""


def test_component_classes_and_parameters_import_no_heavy_library():
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_penguin_pipeline_builds_without_heavy_libraries():
    code = ("import json, runpy, sys\n"
            "runpy.run_path(sys.argv[1])['create_pipeline']()\n"
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n")
    pipeline = Path(__file__).resolve().parents[2] / "pipelines" / "penguin" / "pipeline.py"
    done = subprocess.run([sys.executable, "-c", code, str(pipeline)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
