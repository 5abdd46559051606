"""The live line of ``gristmill run`` (orchestrator/progress.py) on a pseudo-terminal and on a
pipe, and the summary printed in one piece after it."""

from __future__ import annotations

import io
import logging
import os
import pty
import re
import select
import subprocess
import time

import pytest
from orchestrator_fakes import (
    FAKE_PIPELINE,
    Source,
    gristmill_command,
    make_pipeline,
    subprocess_env,
)
from rich.console import Console

from gristmill.metadata.types import ExecutionState
from gristmill.orchestrator import SequentialRunner
from gristmill.orchestrator.hooks import NodeResult
from gristmill.orchestrator.progress import LiveProgress, rows_text


def _node(node_id: str) -> NodeResult:
    return NodeResult(node_id, "Fake", ExecutionState.RUNNING)


@pytest.mark.unit
def test_line_names_the_running_components_with_their_elapsed_time(monkeypatch):
    live = LiveProgress(Console(file=io.StringIO()), total=3, enabled=False)
    clock = iter([100.0, 101.5])
    monkeypatch.setattr(time, "monotonic", lambda: next(clock))
    live.before_node(None, _node("Trainer"), None)
    live.before_node(None, _node("an_evaluator_with_a_long_node_id"), None)
    assert live.line(now=102.25).plain == \
        "running 0/3: Trainer 2.2s, an_evaluator_with_a_long_node_id 0.8s"
    live.after_node(None, _node("Trainer"), None)
    assert live.line(now=103.0).plain == "running 1/3: an_evaluator_with_a_long_node_id 1.5s"
    live.after_node(None, _node("an_evaluator_with_a_long_node_id"), None)
    assert live.line(now=104.0).plain == "running 2/3: waiting for the next component"
    live.after_node(None, _node("Pusher"), None)
    assert live.line(now=105.0).plain == "running 3/3: finishing"


@pytest.mark.unit
def test_line_adds_the_rows_a_beam_component_has_processed(monkeypatch):
    from gristmill.components.framework import row_progress

    live = LiveProgress(Console(file=io.StringIO()), total=2, enabled=False)
    monkeypatch.setattr(time, "monotonic", lambda: 10.0)
    live.before_node(None, _node("StatisticsGen_rows"), None)
    live.before_node(None, _node("Trainer_rows"), None)
    row_progress.begin("StatisticsGen_rows")
    assert live.line(now=11.0).plain == "running 0/2: StatisticsGen_rows 1.0s, Trainer_rows 1.0s"
    row_progress.RowCounter().add(1_250_000)
    assert live.line(now=12.0).plain == \
        "running 0/2: StatisticsGen_rows 2.0s 1.25M rows, Trainer_rows 2.0s"
    assert [rows_text(n) for n in (0, 9_876, 12_345, 4_560_000)] == \
        ["0", "9,876", "12.3k", "4.56M"]


@pytest.mark.unit
def test_nothing_is_drawn_when_the_console_is_not_a_terminal(tmp_path, home):
    out = io.StringIO()
    live = LiveProgress(Console(file=out))
    assert live.enabled is False
    SequentialRunner(hooks=[live], mirror_mlflow=False).run(make_pipeline(tmp_path, [Source()]))
    assert out.getvalue() == ""


def _run_blocked(tmp_path, home, terminal: bool) -> str:
    """``gristmill run`` of the diamond plus a Blocker that waits ~1.5 s; all it printed."""
    marker, block = tmp_path / "started", tmp_path / "block"
    block.touch()
    command = gristmill_command("run", str(FAKE_PIPELINE), f"--param=block_file={block}",
                                f"--param=started_marker={marker}")
    env = subprocess_env(home, COLUMNS="120", TERM="xterm")
    if terminal:
        main, child = pty.openpty()
        process = subprocess.Popen(command, stdin=child, stdout=child, stderr=child, env=env)
        os.close(child)
    else:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   env=env)
        main = process.stdout.fileno()
    output, deadline, released = b"", time.time() + 120, None
    while time.time() < deadline:
        if released is None and marker.exists():
            released = time.time() + 1.5  # let the live line redraw a few times
        if released is not None and time.time() > released and block.exists():
            block.unlink()
        ready, _, _ = select.select([main], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the pty closes when the child exits
                break
            if not chunk:
                break
            output += chunk
    process.wait(timeout=60)
    assert process.returncode == 0, output.decode(errors="replace")
    return output.decode(errors="replace")


@pytest.mark.integration
def test_a_terminal_shows_the_running_component_and_its_elapsed_time(tmp_path, home):
    output = _run_blocked(tmp_path, home, terminal=True)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output)
    times = [float(t) for t in re.findall(r"running \d+/5: Blocker (\d+\.\d)s", plain)]
    assert len(times) >= 2 and times[-1] > times[0] >= 0, plain  # redrawn, time moving
    summary = plain[plain.rindex("COMPLETE in"):]
    assert "running" not in summary and "run id:" in summary  # the line is gone before it


@pytest.mark.integration
def test_a_pipe_gets_no_live_line_and_no_escape_codes(tmp_path, home):
    output = _run_blocked(tmp_path, home, terminal=False)
    assert "COMPLETE in" in output and "Blocker" in output
    assert "running" not in output and "\x1b" not in output


@pytest.mark.unit
def test_a_log_record_while_the_summary_is_gathered_lands_above_it(tmp_path, home, capsys,
                                                                    monkeypatch):
    import sys

    from gristmill.orchestrator import run_summary
    from gristmill.orchestrator.cli_commands import _print_summary

    def noisy_mlflow_line(*args):
        logging.getLogger("gristmill.test").warning("replay failed: connection refused")
        return "mirrored"

    monkeypatch.setattr(run_summary, "mlflow_line", noisy_mlflow_line)
    pipeline = make_pipeline(tmp_path, [Source()], tracking_uri=f"sqlite:///{tmp_path}/m.db")
    result = SequentialRunner(mirror_mlflow=False).run(pipeline)
    capsys.readouterr()
    handler = logging.StreamHandler(sys.stderr)
    logging.getLogger().addHandler(handler)
    try:
        _print_summary(result, pipeline)
    finally:
        logging.getLogger().removeHandler(handler)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "replay failed: connection refused", lines
    assert lines[1].startswith("COMPLETE in ")
    assert [line.split()[0] for line in lines[2:]] == ["run", "artifacts:", "mlflow:"]
