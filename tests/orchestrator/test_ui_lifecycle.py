"""``gristmill ui`` on a real MLflow server: one ``ready: URL`` line once /health answers,
MLflow's noise in a log file (``--verbose`` shows it), and Ctrl-C ends it and every process
it started within 5 s (issue 21 item 9)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gristmill.orchestrator.ui_server import descendants

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    os.set_blocking(proc.stdout.fileno(), False)
    buffer = b""
    while time.monotonic() < deadline and proc.poll() is None:
        chunk = proc.stdout.read()
        if chunk:
            buffer += chunk
            if b"\n" in buffer:
                return buffer.decode()
        time.sleep(0.2)
    return buffer.decode()


def test_ready_line_quiet_output_and_ctrl_c_stops_everything_within_5_s(tmp_path):
    port = _free_port()
    env = {**os.environ, "GRISTMILL_HOME": str(tmp_path / "home"),
           "GRISTMILL_MLFLOW_MIRROR": "off"}
    ui = subprocess.Popen([sys.executable, "-m", "gristmill.orchestrator.cli", "ui",
                           "--port", str(port)], env=env, cwd=tmp_path,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = _read_line(ui, timeout=240)
        assert first == f"ready: http://127.0.0.1:{port}\n", first
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
            assert r.status == 200
        server_tree = descendants(ui.pid)
        assert server_tree, "the MLflow server should run below gristmill ui"
        started = time.monotonic()
        ui.send_signal(signal.SIGINT)  # what Ctrl-C sends
        code = ui.wait(timeout=30)
        took = time.monotonic() - started
    finally:
        if ui.poll() is None:
            ui.kill()
    assert code == 0 and took <= 5.0, (code, took)
    time.sleep(0.2)
    left = [p for p in server_tree if os.path.exists(f"/proc/{p}")
            and Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    assert left == [], f"still running after Ctrl-C: {left}"
    stdout = ui.stdout.read().decode() if ui.stdout else ""
    stderr = ui.stderr.read().decode()
    assert stdout == "", stdout  # nothing after the ready line
    noise = [line for line in stderr.splitlines() if line.strip()
             and not line.startswith(("starting the MLflow UI", "mirrored "))]
    assert noise == [], stderr[-2000:]
    log = (tmp_path / "home" / "logs" / "ui.log").read_text()
    assert log.strip(), "MLflow's output should be kept in the log file"
