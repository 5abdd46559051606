"""The penguin pipeline, run twice through the real CLI in a fresh GRISTMILL_HOME.

Both ``test_penguin.py`` and ``test_ui.py`` read the same two runs (a cold one, then an
identical one that must be fully cached), so the expensive part happens once per session.
The MLflow mirror replays in-process (``GRISTMILL_MLFLOW_MIRROR=sync``) so the tracking
store is complete when the CLI returns.
"""

from __future__ import annotations

import pytest
from pipeline_runs import PENGUIN, PenguinRuns, gristmill_env, run_cli


@pytest.fixture(scope="session")
def penguin_runs(tmp_path_factory) -> PenguinRuns:
    """Run the penguin pipeline cold, then again (expected fully cached)."""
    home = tmp_path_factory.mktemp("gristmill_home")
    env = gristmill_env(home)
    args = ["run", str(PENGUIN)]
    cold = run_cli(args, env, cwd=home)
    assert cold.returncode == 0, f"cold run failed:\n{cold.stderr[-6000:]}"
    cached = run_cli(args, env, cwd=home)
    assert cached.returncode == 0, f"second run failed:\n{cached.stderr[-6000:]}"
    return PenguinRuns(home, env, cold, cached)
