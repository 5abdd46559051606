"""Replaying journals: one bad journal or metric name never blocks the others or the UI;
journals never hold a tracking password; file events stay beside their journal."""

from __future__ import annotations

import json
import logging
import os
import stat

import pytest
from orchestrator_fakes import diamond, make_pipeline

from gristmill.orchestrator import SequentialRunner, ui_server
from gristmill.orchestrator.mlflow_mirror import MlflowMirror
from gristmill.orchestrator.mlflow_replay import read_events, replay_pending

pytestmark = pytest.mark.integration


def _journal(folder, run_id: str, tracking: str, metrics: dict) -> str:
    events = [
        {"op": "start_pipeline", "pipeline": "odd", "run_id": run_id, "tracking_uri": tracking,
         "params": {}, "root": "/r", "start": 1.0, "time": 1.0},
        {"op": "start_node", "node": "Eval", "type": "x.Eval", "execution_id": 1, "time": 1.0},
        {"op": "metrics", "node": "Eval", "metrics": metrics, "step": None, "time": 1.1},
        {"op": "end_node", "node": "Eval", "type": "x.Eval", "state": "COMPLETE", "seconds": 1,
         "execution_id": 1, "error": None, "metrics": metrics, "parameters": {}, "inputs": {},
         "outputs": {}, "time": 1.2},
        {"op": "end_pipeline", "status": "COMPLETE", "seconds": 1, "time": 1.3},
    ]
    path = folder / f"{run_id}.ready"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return str(path)


def _node_metrics(tracking: str, run_id: str) -> dict:
    from mlflow import MlflowClient

    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("odd")
    (run,) = client.search_runs([experiment.experiment_id], filter_string=(
        f"tags.`gristmill.node` = 'Eval' and tags.`gristmill.run_id` = '{run_id}'"))
    return run.data.metrics


def test_bad_metric_names_and_a_truncated_journal_are_skipped_by_name(tmp_path, caplog):
    folder = tmp_path / "mirror"
    folder.mkdir()
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _journal(folder, "r1", tracking, {"acc@5": 0.9, "f1 (macro)": 0.8, "accuracy": 0.7})
    (folder / "r0.ready").write_text('{"op": "start_pipeline", "pipel')  # torn write
    _journal(folder, "r2", tracking, {"accuracy": 0.6})

    with caplog.at_level(logging.WARNING):
        replayed = replay_pending(folder, tracking)

    assert replayed == 2
    assert _node_metrics(tracking, "r1") == {"accuracy": 0.7, "duration_seconds": 1.0}
    assert _node_metrics(tracking, "r2") == {"accuracy": 0.6, "duration_seconds": 1.0}
    assert "'acc@5' skipped" in caplog.text and "'f1 (macro)' skipped" in caplog.text
    assert "r0.ready" in caplog.text and (folder / "r0.bad").exists()
    assert sorted(p.name for p in folder.glob("*.done")) == ["r1.done", "r2.done"]


def test_a_torn_last_line_is_skipped_and_the_rest_replayed(tmp_path, caplog):
    path = tmp_path / "r.ready"
    path.write_text('{"op": "start_pipeline", "run_id": "r"}\n{"op": "end_pi')

    with caplog.at_level(logging.WARNING):
        events = read_events(path)

    assert [e["op"] for e in events] == ["start_pipeline"]
    assert "skipped 1 unreadable line(s) (2)" in caplog.text


def test_a_file_event_outside_its_journal_folder_is_dropped(tmp_path):
    path = tmp_path / "r.ready"
    path.write_text('{"op": "start_pipeline", "run_id": "r"}\n'
                    '{"op": "artifact", "node": "n", "path": "/etc/passwd", "name": "p"}\n'
                    f'{{"op": "model", "node": "n", "path": "{tmp_path}/r.files/0001-m"}}\n')

    assert [e["op"] for e in read_events(path)] == ["start_pipeline", "model"]


class _JournalOnly(MlflowMirror):
    def after_pipeline_run(self, run, status, results):
        self.mode = "journal-only"
        super().after_pipeline_run(run, status, results)


def test_journals_never_hold_the_tracking_password(tmp_path, home, monkeypatch, caplog):
    import gristmill.orchestrator.mlflow_mirror as mirror

    monkeypatch.setattr(mirror, "_spawn_replay", lambda path, uri: None)
    monkeypatch.setattr(mirror, "_start_tracking_store_creation", lambda uri: None)
    secret = "Tr0ub4dor?#Secret"
    tracking = "postgresql://mlflow:Tr0ub4dor%3F%23Secret@127.0.0.1:1/mlflow"
    SequentialRunner(hooks=[_JournalOnly(mode="async")], mirror_mlflow=False).run(
        make_pipeline(tmp_path, diamond(), tracking_uri=tracking))
    (journal,) = (home / "mirror").glob("*.ready")

    text = journal.read_text()
    assert "Tr0ub4dor" not in text and secret not in text
    assert "postgresql://mlflow:***@127.0.0.1:1/mlflow" in text
    assert stat.S_IMODE(os.stat(journal).st_mode) == 0o600

    with caplog.at_level(logging.WARNING):
        assert replay_pending(home / "mirror") == 0  # no full URL given: kept, reported
    assert "password is not kept on disk" in caplog.text and journal.exists()


@pytest.mark.unit
def test_the_default_tracking_database_stays_inside_a_home_with_url_characters(tmp_path,
                                                                               monkeypatch):
    from gristmill.components.framework.tracking_store import sqlite_path
    from gristmill.orchestrator.mlflow_replay import ui_command
    from gristmill.orchestrator.runner import default_tracking_uri

    home = tmp_path / "h?x%20y#z"
    monkeypatch.setenv("GRISTMILL_HOME", str(home))

    uri = default_tracking_uri()

    assert sqlite_path(uri) == home / "mlflow.db"
    command = ui_command(uri, "127.0.0.1", 5000)
    assert command[command.index("--default-artifact-root") + 1] == str(home / "mlartifacts")


def test_gristmill_ui_starts_despite_a_broken_store_a_torn_journal_and_odd_metrics(
        tmp_path, home, monkeypatch):
    from gristmill.orchestrator.cli import main

    (home / "mlflow.db").write_bytes(b"\x00" * 4096)  # a torn first write (full disk)
    folder = home / "mirror"
    folder.mkdir()
    tracking = f"sqlite:///{home / 'mlflow.db'}"
    _journal(folder, "r1", tracking, {"acc@5": 0.9, "f1 (macro)": 0.8, "accuracy": 0.7})
    (folder / "r0.ready").write_text('{"op": "start_pipel')
    started = []
    monkeypatch.setattr(ui_server, "serve", lambda argv, url, log, say: started.append(argv) or 0)

    code = main(["ui", "--tracking-uri", tracking])

    assert code == 0 and started and "--backend-store-uri" in started[0]
    assert (folder / "r1.done").exists() and (folder / "r0.bad").exists()
    assert list(home.glob("mlflow.db.broken-*"))
    assert _node_metrics(tracking, "r1") == {"accuracy": 0.7, "duration_seconds": 1.0}


@pytest.mark.unit
def test_the_detached_replay_runs_niced(monkeypatch, tmp_path):
    from gristmill.orchestrator import mlflow_replay

    increments, replayed = [], []
    monkeypatch.setattr(mlflow_replay.os, "nice", increments.append)
    monkeypatch.setattr(mlflow_replay, "replay_file", replayed.append)
    assert mlflow_replay.main([str(tmp_path / "r.ready")]) == 0
    assert increments == [mlflow_replay.NICENESS] == [10]
    assert replayed == [str(tmp_path / "r.ready")]
