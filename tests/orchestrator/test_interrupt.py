"""Ctrl-C stops a run within seconds, records it, and prints the resume command
(issue 14 item 15). The blocked component would otherwise run for another 60 s."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from orchestrator_fakes import FAKE_PIPELINE, gristmill_command, subprocess_env

from gristmill.metadata.store import PIPELINE_RUN
from gristmill.metadata.types import ArtifactState, ExecutionState
from gristmill.orchestrator.cli import main

pytestmark = pytest.mark.integration


def _wait_for(path, proc, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.communicate()}")
        if time.time() > deadline:
            proc.kill()
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


@pytest.mark.parametrize("runner_flag", [[], ["--sequential"]])
def test_first_ctrl_c_stops_the_run_within_seconds(tmp_path, home, metadata_url,
                                                     open_test_store, capsys, runner_flag):
    marker, block = tmp_path / "started", tmp_path / "block"
    block.touch()  # the Blocker component runs for 60 s while this file exists
    args = ["run", str(FAKE_PIPELINE), f"--param=started_marker={marker}",
            f"--param=block_file={block}", f"--param=root={tmp_path / 'root'}",
            f"--param=metadata_url={metadata_url}", *runner_flag]
    proc = subprocess.Popen(gristmill_command(*args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=subprocess_env(home))
    try:
        _wait_for(marker, proc)
        interrupted_at = time.time()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    seconds = time.time() - interrupted_at
    assert proc.returncode == 130, err
    assert seconds < 5, f"Ctrl-C took {seconds:.1f} s"
    assert "interrupted: run " in err and "is CANCELED; stopped and recorded CANCELED: " \
        "Blocker" in err
    assert "resume:    gristmill run " in err and "Traceback" not in err
    with open_test_store() as store:
        (blocker,) = store.list_executions(component_id="Blocker")
        assert blocker.state is ExecutionState.CANCELED
        assert "interrupted (Ctrl-C)" in blocker.error
        (pending,) = store.get_outputs(blocker.id)["out"]
        assert pending.state is not ArtifactState.LIVE
        assert store.get_context(PIPELINE_RUN, blocker.run_id).properties["status"] == \
            "CANCELED"
        assert store.list_executions(states=[ExecutionState.RUNNING]) == []
    staging = tmp_path / "root" / ".staging"
    assert not staging.exists() or not any(staging.iterdir())

    block.unlink()  # the resumed run: completed components come from cache
    code = main([*args, "--json"])
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and data["status"] == "COMPLETE"
    states = {c["name"]: c["state"] for c in data["components"]}
    assert states.pop("Blocker") == "COMPLETE" and set(states.values()) == {"CACHED"}
    assert os.path.exists(data["components"][-1]["outputs"]["out"][0]["uri"])


def _hold_write_lock(db_path, seconds: float) -> subprocess.Popen:
    """Another process that holds the SQLite write lock for ``seconds``."""
    code = ("import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True)\n"
            "time.sleep(float(sys.argv[2])); c.execute('ROLLBACK')\n")
    holder = subprocess.Popen([os.sys.executable, "-c", code, str(db_path), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_locked_store_says_what_it_waits_for_and_gives_up_with_the_fix(
        tmp_path, metadata_url, monkeypatch, capsys, caplog):
    args = ["run", str(FAKE_PIPELINE), f"--param=root={tmp_path / 'root'}",
            f"--param=metadata_url={metadata_url}"]
    assert main(args) == 0
    capsys.readouterr()
    monkeypatch.setenv("GRISTMILL_STORE_LOCK_TIMEOUT", "2")
    holder = _hold_write_lock(tmp_path / "metadata.db", 30)
    try:
        started = time.time()
        assert main(args) == 2
        seconds = time.time() - started
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert 2 <= seconds < 8, seconds
    (waiting,) = [r.getMessage() for r in caplog.records if "waiting for" in r.getMessage()]
    assert waiting.startswith("waiting for the metadata database sqlite:///")
    assert waiting.endswith("giving up after 2 s (GRISTMILL_STORE_LOCK_TIMEOUT)")
    assert "stayed locked for 2 s" in err and "Fix: find the process holding" in err
    caplog.clear()
    # A lock released in time: the run waits, says so once, then completes.
    monkeypatch.setenv("GRISTMILL_STORE_LOCK_TIMEOUT", "30")
    holder = _hold_write_lock(tmp_path / "metadata.db", 1.5)
    try:
        assert main(args) == 0
    finally:
        holder.wait(timeout=30)
    assert [r.getMessage() for r in caplog.records].count(waiting.replace("2 s", "30 s")) == 1
