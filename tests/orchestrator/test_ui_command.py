"""``gristmill ui`` starts MLflow's server without its job runner (issue 20 goal 5).

MLflow 3's server starts a job runner and seven huey consumers by default (GenAI scorers,
trace roll-ups): 10 processes and 1.2-1.5 GB RSS in all against 2 and 0.5 GB without
(``bench/run.py ui``). Gristmill turns it off unless the user set the variable.
"""

from __future__ import annotations

import pytest

from gristmill.orchestrator import cli_commands, mlflow_replay, ui_server
from gristmill.orchestrator.cli import main

pytestmark = pytest.mark.unit
JOBS = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"


def _start_ui(monkeypatch, tmp_path) -> tuple[list[str], str | None]:
    started: list[tuple[list[str], str | None]] = []
    monkeypatch.setattr(mlflow_replay, "prepare_ui", lambda *_args: 0)
    monkeypatch.setattr(ui_server, "serve", lambda argv, url, log, say: started.append(
        (argv, cli_commands.os.environ.get(JOBS))) or 0)
    assert main(["ui", "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]) == 0
    assert len(started) == 1
    return started[0]


def test_ui_turns_mlflow_job_runner_off(monkeypatch, tmp_path):
    monkeypatch.setenv(JOBS, "unset")  # so that monkeypatch restores what cmd_ui sets
    monkeypatch.delenv(JOBS)
    argv, jobs = _start_ui(monkeypatch, tmp_path)
    assert "server" in argv and jobs == "false"


def test_ui_keeps_a_job_setting_the_user_made(monkeypatch, tmp_path):
    monkeypatch.setenv(JOBS, "true")
    _, jobs = _start_ui(monkeypatch, tmp_path)
    assert jobs == "true"


_UI_REPORTING_IMPORTS = """
import sys
from gristmill.orchestrator import ui_server
from gristmill.orchestrator.cli import main
ui_server.serve = lambda argv, url, log, say: print("mlflow imported:", "mlflow" in sys.modules)
main(["ui", "--tracking-uri", sys.argv[1]])
"""


@pytest.mark.integration
def test_ui_imports_no_mlflow_when_the_store_is_at_head_and_nothing_is_pending(tmp_path):
    # prepare_ui used to import MLflow (2.7 CPU-s at load 13) only to see a sound store.
    import subprocess
    import sys

    from gristmill.components.framework.tracking_store import ensure_tracking_store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ensure_tracking_store(uri)
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "r1.done").write_text("{}\n")  # replayed already
    done = subprocess.run([sys.executable, "-c", _UI_REPORTING_IMPORTS, uri], text=True,
                          capture_output=True, timeout=240,
                          env={**cli_commands.os.environ, "GRISTMILL_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "mlflow imported: False" in done.stdout
