"""Separate processes on one SQLite store, and a run killed with SIGKILL mid-execution."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from orchestrator_fakes import FAKE_PIPELINE, gristmill_command, subprocess_env

from gristmill.metadata.fingerprint import fingerprint_path
from gristmill.metadata.store import PIPELINE_RUN
from gristmill.metadata.types import ArtifactState, ExecutionState
from gristmill.orchestrator.cli import main

pytestmark = pytest.mark.integration


def _pipeline_params(tmp_path, metadata_url: str) -> list[str]:
    return [f"--param=root={tmp_path / 'root'}", f"--param=metadata_url={metadata_url}"]


def _assert_live_artifacts_intact(store) -> int:
    live = store.list_artifacts(states=[ArtifactState.LIVE])
    for artifact in live:
        assert os.path.exists(artifact.uri), f"LIVE artifact {artifact.id} has no files"
        assert fingerprint_path(artifact.uri) == artifact.fingerprint, artifact
    return len(live)


def test_four_concurrent_processes_share_one_sqlite_store(tmp_path, home, metadata_url,
                                                          open_test_store):
    # Two pairs of identical runs: the pairs race for the same cache keys.
    values = [1, 1, 2, 2]
    procs = [subprocess.Popen(
        gristmill_command("run", str(FAKE_PIPELINE), f"--param=value={v}", "--json",
                          *_pipeline_params(tmp_path, metadata_url)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env(home))
        for v in values]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["status"] for r in results] == ["COMPLETE"] * 4
    assert len({r["run_id"] for r in results}) == 4
    with open_test_store() as store:
        assert _assert_live_artifacts_intact(store) >= 8
        for run, value in zip(results, values, strict=True):
            executions = store.list_executions(run_id=run["run_id"])
            assert sorted(e.component_id for e in executions) == ["Join", "Source", "left",
                                                                  "right"]
            assert all(e.state in (ExecutionState.COMPLETE, ExecutionState.CACHED)
                       for e in executions)
            assert store.get_context(PIPELINE_RUN, run["run_id"]).properties["status"] == \
                "COMPLETE"
            join = store.get_outputs(next(e.id for e in executions
                                          if e.component_id == "Join"))["out"][0]
            with open(os.path.join(join.uri, "value.txt")) as f:
                assert int(f.read()) == (value + 1) + (value + 2)
            graph = store.get_lineage(join.id, direction="upstream", hops=3)
            assert {e.component_id for e in graph.executions} >= {"Source", "left", "right",
                                                                   "Join"}
            assert {a.producer_component for a in graph.artifacts} == {"Source", "left",
                                                                       "right", "Join"}


def _wait_for(path, proc, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.communicate()}")
        if time.time() > deadline:
            proc.kill()
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


def test_kill_9_mid_run_then_rerun_completes_and_leaves_no_broken_state(
        tmp_path, home, metadata_url, open_test_store, capsys):
    marker, block = tmp_path / "started", tmp_path / "block"
    block.touch()
    args = ["run", str(FAKE_PIPELINE), f"--param=started_marker={marker}",
            f"--param=block_file={block}", *_pipeline_params(tmp_path, metadata_url)]
    proc = subprocess.Popen(gristmill_command(*args), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=subprocess_env(home))
    try:
        _wait_for(marker, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with open_test_store() as store:
        (killed,) = store.list_executions(states=[ExecutionState.RUNNING])
        assert killed.component_id == "Blocker" and killed.pid == proc.pid
        (pending,) = store.get_outputs(killed.id)["out"]
        assert pending.state is ArtifactState.PENDING
        killed_run = killed.run_id
    token = os.path.basename(pending.uri)
    root = os.path.dirname(os.path.dirname(os.path.dirname(pending.uri)))
    leftovers = [os.path.join(root, ".staging", token), os.path.join(root, ".tmp", token)]
    assert any(os.path.exists(p) for p in leftovers)  # what the killed execution left

    block.unlink()  # let the next run's Blocker finish
    code = main([*args, "--json"])
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and data["status"] == "COMPLETE"
    assert {c["name"]: c["state"] for c in data["components"]} == {
        "Source": "CACHED", "left": "CACHED", "right": "CACHED", "Join": "CACHED",
        "Blocker": "COMPLETE"}
    with open_test_store() as store:
        assert store.list_executions(states=[ExecutionState.RUNNING, ExecutionState.NEW]) == []
        recovered = store.get_execution(killed.id)
        assert recovered.state is ExecutionState.FAILED
        assert f"process {proc.pid} on" in recovered.error and "died" in recovered.error
        assert store.get_artifacts([pending.id])[0].state is ArtifactState.ABANDONED
        assert not any(os.path.exists(p) for p in [*leftovers, pending.uri])
        assert store.get_context(PIPELINE_RUN, killed_run).properties["status"] == "FAILED"
        assert _assert_live_artifacts_intact(store) == 5
