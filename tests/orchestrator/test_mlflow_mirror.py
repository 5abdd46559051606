"""The MLflow mirror: a parent run per pipeline run, a nested run per component.

The journal is checked without MLflow; replays go into a real SQLite tracking store and, in
the e2e test, through a real ``gristmill ui`` (MLflow) server's REST API.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from orchestrator_fakes import diamond, make_pipeline, subprocess_env, two_branches

from gristmill.orchestrator import SequentialRunner
from gristmill.orchestrator.mlflow_mirror import MlflowMirror, mirror_dir

NODES = {"Source", "left", "right", "Join"}


def _journal_events(home) -> list[dict]:
    (journal,) = (home / "mirror").glob("*.ready")
    return [json.loads(line) for line in journal.read_text().splitlines()]


class _JournalOnly(MlflowMirror):
    """The real mirror hook, minus the replay: keeps the journal for inspection."""

    def after_pipeline_run(self, run, status, results):
        self.mode = "journal-only"
        super().after_pipeline_run(run, status, results)


@pytest.mark.unit
def test_journal_records_every_node_and_the_end(tmp_path, home, monkeypatch):
    import gristmill.orchestrator.mlflow_mirror as mirror

    monkeypatch.setattr(mirror, "_spawn_replay", lambda path, uri: None)
    monkeypatch.setattr(mirror, "_start_tracking_store_creation", lambda uri: None)
    pipeline = make_pipeline(tmp_path, diamond(), tracking_uri=f"sqlite:///{tmp_path}/unused.db")
    result = SequentialRunner(hooks=[_JournalOnly(mode="async")], mirror_mlflow=False).run(
        pipeline)
    events = _journal_events(home)
    assert events[0]["op"] == "start_pipeline" and events[0]["run_id"] == result.run_id
    ended = {e["node"]: e for e in events if e["op"] == "end_node"}
    assert set(ended) == NODES
    assert ended["Join"]["state"] == "COMPLETE" and ended["Join"]["metrics"] == {"total": 5.0}
    assert ended["left"]["parameters"] == {"inc": 1, "fail_flag": ""}
    metrics = [e for e in events if e["op"] == "metrics" and e["node"] == "Source"]
    assert metrics[0]["metrics"] == {"value": 1}
    assert events[-1]["op"] == "end_pipeline" and events[-1]["status"] == "COMPLETE"


@pytest.mark.unit
def test_mirror_off_writes_nothing(tmp_path, home):
    pipeline = make_pipeline(tmp_path, diamond(), tracking_uri=f"sqlite:///{tmp_path}/unused.db")
    SequentialRunner(hooks=[MlflowMirror(mode="off")], mirror_mlflow=False).run(pipeline)
    assert not mirror_dir().exists()
    assert not (tmp_path / "unused.db").exists()  # off means MLflow is never touched


@pytest.mark.integration
def test_a_failing_mirror_never_fails_the_run(tmp_path, home, monkeypatch, caplog):
    monkeypatch.setenv("GRISTMILL_MLFLOW_MIRROR", "sync")
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("a file where MLflow needs a directory")
    broken = f"sqlite:///{blocker}/mlflow.db"
    result = SequentialRunner().run(make_pipeline(tmp_path, diamond(), tracking_uri=broken))
    assert result.status == "COMPLETE"
    assert "hook MlflowMirror.after_pipeline_run failed" in caplog.text
    assert len(list((home / "mirror").glob("*.ready"))) == 1  # kept for a later replay


def _search_runs(client, experiment_id: str) -> list:
    return client.search_runs([experiment_id], max_results=100)


@pytest.mark.integration
@pytest.mark.slow
def test_sync_replay_into_a_sqlite_tracking_store(tmp_path, home, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("GRISTMILL_MLFLOW_MIRROR", "sync")
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    flag = tmp_path / "crash"
    flag.touch()
    result = SequentialRunner().run(make_pipeline(tmp_path, two_branches(str(flag)),
                                                  tracking_uri=tracking))
    assert result.status == "FAILED"
    assert len(list((home / "mirror").glob("*.done"))) == 1
    client = MlflowClient(tracking_uri=tracking)
    experiment = client.get_experiment_by_name("fake")
    runs = _search_runs(client, experiment.experiment_id)
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.data.tags["gristmill.run_id"] == result.run_id
    assert parent.info.status == "FAILED" and parent.data.tags["gristmill.status"] == "FAILED"
    children = {r.data.tags["gristmill.node"]: r for r in runs if r is not parent}
    assert set(children) == {"Source", "bad", "after_bad", "good", "after_good"}
    assert {r.data.tags["mlflow.parentRunId"] for r in children.values()} == {
        parent.info.run_id}
    assert {n: r.info.status for n, r in children.items()} == {
        "Source": "FINISHED", "bad": "FAILED", "after_bad": "KILLED", "good": "FINISHED",
        "after_good": "FINISHED"}
    assert "ZeroDivisionError" in children["bad"].data.tags["gristmill.error"]
    assert children["good"].data.metrics["result"] == 2.0
    assert parent.data.metrics["components_failed"] == 1.0


@pytest.mark.integration
def test_a_replay_retried_after_failing_halfway_shows_the_run_once(tmp_path, home, monkeypatch):
    from mlflow import MlflowClient

    import gristmill.orchestrator.mlflow_mirror as mirror
    from gristmill.orchestrator.mlflow_replay import _Replayer, replay_file

    monkeypatch.setattr(mirror, "_spawn_replay", lambda path, uri: None)
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = SequentialRunner(hooks=[_JournalOnly(mode="async")], mirror_mlflow=False).run(
        make_pipeline(tmp_path, diamond(), tracking_uri=tracking))
    (journal,) = (home / "mirror").glob("*.ready")
    original = _Replayer._on_end_node
    calls = []

    def fail_on_third(self, event):
        calls.append(event["node"])
        if len(calls) == 3:
            raise ConnectionError("tracking server went away")
        original(self, event)

    monkeypatch.setattr(_Replayer, "_on_end_node", fail_on_third)
    searches = []
    search = MlflowClient.search_runs
    monkeypatch.setattr(MlflowClient, "search_runs",
                        lambda *a, **k: searches.append(a) or search(*a, **k))
    with pytest.raises(ConnectionError):
        replay_file(str(journal))
    assert journal.exists()  # left for a retry
    assert searches == [] and journal.with_suffix(".attempted").exists()  # a first attempt
    monkeypatch.setattr(_Replayer, "_on_end_node", original)
    replay_file(str(journal))
    assert len(searches) == 1  # the retry looked for what the first attempt left
    assert not journal.with_suffix(".attempted").exists()
    client = MlflowClient(tracking_uri=tracking)
    runs = _search_runs(client, client.get_experiment_by_name("fake").experiment_id)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [p.data.tags["gristmill.run_id"] for p in parents] == [result.run_id]
    assert sorted(r.data.tags["gristmill.node"] for r in runs if r not in parents) == \
        sorted(NODES)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(base: str, path: str, **query) -> dict:
    url = f"{base}{path}?{urllib.parse.urlencode(query)}" if query else f"{base}{path}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def _post(base: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _wait_healthy(base: str, server: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the MLflow server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the MLflow server at {base} never became healthy")


def _stop(server: subprocess.Popen) -> None:
    """Stop the server we started, and the workers in its own process group."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


@pytest.mark.e2e
@pytest.mark.slow
def test_mlflow_rest_api_shows_parent_and_nested_runs(tmp_path, home, monkeypatch):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", "import sys; from gristmill.orchestrator.cli import main; "
               "sys.exit(main())", "ui", "--port", str(port)]
    server = subprocess.Popen(command, env=subprocess_env(home), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_healthy(base, server)
        monkeypatch.setenv("GRISTMILL_MLFLOW_MIRROR", "sync")
        result = SequentialRunner().run(make_pipeline(tmp_path, diamond(), tracking_uri=base))
        assert result.status == "COMPLETE"
        experiment = _get(base, "/api/2.0/mlflow/experiments/get-by-name",
                          experiment_name="fake")["experiment"]
        runs = _post(base, "/api/2.0/mlflow/runs/search", {
            "experiment_ids": [experiment["experiment_id"]], "max_results": 100})["runs"]
    finally:
        _stop(server)
    tags = [{t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in runs]
    parents = [(r, t) for r, t in zip(runs, tags, strict=True) if "mlflow.parentRunId" not in t]
    assert len(parents) == 1
    parent, parent_tags = parents[0]
    assert parent_tags["gristmill.run_id"] == result.run_id
    assert parent["info"]["status"] == "FINISHED"
    children = {t["gristmill.node"]: (r, t) for r, t in zip(runs, tags, strict=True)
                if t.get("mlflow.parentRunId") == parent["info"]["run_id"]}
    assert set(children) == NODES and len(runs) == 1 + len(NODES)
    for node, (run, node_tags) in children.items():
        assert node_tags["gristmill.state"] == "COMPLETE", node
        assert node_tags["gristmill.execution_id"] == str(result.node(node).execution_id)
        assert run["info"]["status"] == "FINISHED"
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        assert "duration_seconds" in metrics
    join_metrics = {m["key"]: m["value"] for m in children["Join"][0]["data"]["metrics"]}
    assert join_metrics["total"] == 5.0
    parent_metrics = {m["key"]: m["value"] for m in parent["data"]["metrics"]}
    assert parent_metrics["components_executed"] == 4.0
    assert parent_metrics["Join.total"] == 5.0


@pytest.mark.unit
def test_replay_records_each_metric_point_once():
    # Issue 18 #10: a step-less metric came in a metrics event and again in end_node, so
    # every final value had two points at step 0 on the component's run.
    from gristmill.orchestrator.mlflow_replay import _Replayer

    class Writer:
        def __init__(self):
            self.points = []

        def log_batch(self, run_id, metrics, params, tags):
            self.points += [(run_id, key, step, value) for key, value, _, step, _ in metrics]

        def set_tag(self, *args):
            pass

        def set_terminated(self, *args, **kwargs):
            pass

    replayer = _Replayer.__new__(_Replayer)
    replayer.events, replayer.writer, replayer.buffers = [], Writer(), {}
    replayer.types, replayer.trials, replayer.models, replayer.producers = {}, {}, {}, {}
    replayer.ended = {}
    replayer.node_runs, replayer.parent_id = {"Trainer": "run-1"}, "parent"
    for step, metrics in ((1, {"val_loss": 0.5}), (2, {"val_loss": 0.4}),
                          (None, {"final_val_loss": 0.4})):
        replayer._on_metrics({"node": "Trainer", "metrics": metrics, "step": step, "time": 0.0})
    replayer._on_end_node({"node": "Trainer", "seconds": 1.0, "state": "COMPLETE",
                           "execution_id": 7, "time": 0.0,
                           "metrics": {"final_val_loss": 0.4}})
    replayer._finish_runs()  # every run is written at the pipeline's end
    points = [p for p in replayer.writer.points if p[0] == "run-1"]
    assert [p for p in points if p[1] == "val_loss"] == [("run-1", "val_loss", 1, 0.5),
                                                         ("run-1", "val_loss", 2, 0.4)]
    assert [p for p in points if p[1] == "final_val_loss"] == [
        ("run-1", "final_val_loss", 0, 0.4)]
    assert ("parent", "Trainer.final_val_loss", 0, 0.4) in replayer.writer.points
