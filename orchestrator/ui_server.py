"""Run the ``mlflow server`` behind ``gristmill ui``: quiet, one "ready" line, quick to stop.

MLflow's server prints a page of start-up noise (uvicorn, alembic, deprecation warnings)
and, stopped politely, takes 10-15 s to wind down. ``gristmill ui`` keeps that noise in a
log file (``--verbose`` shows it), prints ``ready: URL`` once ``/health`` answers, and on
Ctrl-C or SIGTERM ends the server and every process it started within :data:`STOP_SECONDS`
(terminate, then kill what is left).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

#: Ctrl-C to prompt: the server gets SIGTERM, and SIGKILL for whatever is left after this.
STOP_SECONDS = 3.0
#: How long the server may take to answer /health (MLflow needs 20-40 s on a busy machine).
HEALTH_TIMEOUT_SECONDS = 180.0


class _Stop(Exception):
    """SIGTERM, turned into an exception so the same clean-up as Ctrl-C runs."""


def serve(command: list[str], url: str, log_path: Path | None, say=print) -> int:
    """Start ``command``, say ``ready: URL`` when ``/health`` answers, stop it on Ctrl-C.

    Args:
        command: The ``mlflow server`` command line.
        url: The base URL it serves (``http://host:port``).
        log_path: Where its output goes; ``None`` leaves it on this terminal (``--verbose``).
        say: Prints one line for the user.

    Returns:
        0 after a stop by Ctrl-C/SIGTERM; 1 when the server exited or never became healthy.
    """
    log = open(log_path, "ab") if log_path is not None else None  # noqa: SIM115 - closed below
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT if log else None)
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        if not _wait_healthy(server, url):
            say(f"gristmill ui: the MLflow server {_ended(server)}; its output: "
                f"{log_path or 'above'}")
            return 1
        say(f"ready: {url}")
        server.wait()
        say(f"gristmill ui: the MLflow server exited with {server.returncode}; its output: "
            f"{log_path or 'above'}")
        return 1
    except (KeyboardInterrupt, _Stop):
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop(server.pid)
        if log is not None:
            log.close()


def _raise_stop(signum, frame) -> None:
    raise _Stop()


def _ended(server: subprocess.Popen) -> str:
    code = server.poll()
    return (f"exited with {code} before answering /health" if code is not None
            else f"did not answer /health within {HEALTH_TIMEOUT_SECONDS:.0f} s")


def _wait_healthy(server: subprocess.Popen, url: str) -> bool:
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.3)
    return False


def descendants(pid: int) -> list[int]:
    """Every living process below ``pid`` (children first found first), from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir() if sys.platform.startswith("linux") else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def stop(pid: int) -> None:
    """SIGTERM ``pid`` and its descendants; SIGKILL whatever lives after :data:`STOP_SECONDS`."""
    targets = [pid, *descendants(pid)]
    _signal_all(targets, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline and any(_alive(p) for p in targets):
        time.sleep(0.1)
    _signal_all([p for p in targets if _alive(p)], signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):  # reap it when it is our child
        os.waitpid(pid, 0)


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours is dead for this purpose
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
