"""``gristmill ui``: seconds until ``/health`` answers, and the memory of its processes.

``python bench/run.py ui --json [--home DIR] [--repeats N]`` prepares a ``GRISTMILL_HOME``
holding one penguin run mirrored into MLflow (or reuses ``--home``), then per repetition
starts ``gristmill ui`` on a free port in its own process group, polls
``http://127.0.0.1:<port>/health`` every 50 ms, and once it answers waits ``--settle``
seconds (background workers start after the server answers) and sums the resident memory
of the whole process tree from ``/proc``: ``rss_mb`` (VmRSS: shared pages counted once per
process, as ``ps`` and most tools show it) and ``pss_mb`` (proportional set size: shared
pages split between the processes that share them; the memory the tree really holds).
It also reports ``cpu_seconds_to_health``: the CPU the tree used until ``/health`` answered
(on a loaded machine the wall mostly measures waiting for a core). ``--env KEY=VALUE``
passes a setting to ``gristmill ui`` (A/B). Then it stops the group (SIGTERM, SIGKILL after
10 s). Goal (issue 20): ``/health`` within
10 s and at most 600 MB in total.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from e2e_bench import watch_replay

REPO = Path(__file__).resolve().parent.parent


def add_arguments(parser) -> None:
    """``--home DIR``, ``--repeats N``, ``--settle S``."""
    parser.add_argument("--home", help="a GRISTMILL_HOME with runs (default: make one)")
    parser.add_argument("--repeats", type=int, default=3, help="UI starts to measure")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds after /health answers before measuring memory")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment of `gristmill ui` (A/B of a setting); "
                        "repeatable")


def run(args) -> dict:
    """Start the UI ``--repeats`` times; medians of start-up seconds and memory."""
    home = Path(args.home) if args.home else _home_with_one_run()
    extra = dict(item.split("=", 1) for item in args.env)
    samples = [_one_start(home, args.settle, extra) for _ in range(args.repeats)]
    result = {"rows": 0, "home": str(home), "repeats": args.repeats,
              "cpu_count": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
              "goal": "health <= 10 s, <= 600 MB in total", "env": extra}
    for key in ("health_seconds", "cpu_seconds_to_health", "rss_mb", "pss_mb", "processes"):
        result[key] = round(statistics.median(s[key] for s in samples), 2)
        result[f"{key}_samples"] = [s[key] for s in samples]
    result["seconds"] = result["health_seconds"]
    result["process_names"] = samples[-1]["process_names"]
    return result


def _home_with_one_run() -> Path:
    home = Path(tempfile.mkdtemp(prefix="gristmill-ui-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRISTMILL_")}
    env["GRISTMILL_HOME"] = str(home)
    pipeline = REPO / "pipelines" / "penguin" / "pipeline.py"
    subprocess.run([sys.executable, "-m", "gristmill.orchestrator.cli", "run", str(pipeline)],
                   env=env, cwd=home, check=True, stdout=subprocess.DEVNULL)
    watch_replay(home)  # the run is in MLflow once the detached replay has exited
    return home


def _one_start(home: Path, settle: float, extra: dict[str, str]) -> dict:
    port = _free_port()
    env = {**os.environ, "GRISTMILL_HOME": str(home), **extra}
    command = [sys.executable, "-m", "gristmill.orchestrator.cli", "ui", "--port", str(port)]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=home, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        health = _wait_for_health(port, process, started)
        # CPU the tree used until it answered (its exited children included): on a loaded
        # machine the wall mostly measures waiting for a core; on idle cores wall ~ CPU.
        cpu = sum(_cpu_seconds(p) for p in _process_tree(process.pid))
        time.sleep(settle)
        tree = _process_tree(process.pid)
        return {"health_seconds": round(health, 2), "cpu_seconds_to_health": round(cpu, 2),
                "rss_mb": round(sum(_kib(p, "status", "VmRSS:") for p in tree) / 1024, 1),
                "pss_mb": round(sum(_kib(p, "smaps_rollup", "Pss:") for p in tree) / 1024, 1),
                "processes": len(tree), "process_names": [_name(p) for p in tree]}
    finally:
        _stop(process)


def _wait_for_health(port: int, process: subprocess.Popen, started: float,
                     timeout: float = 180.0) -> float:
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"gristmill ui exited with {process.returncode} before /health")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                if reply.status == 200:
                    return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"/health did not answer within {timeout} s")


def _process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _cpu_seconds(pid: int) -> float:
    """utime + stime + the reaped children's, from ``/proc/<pid>/stat``."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _kib(pid: int, file: str, field: str) -> int:
    try:
        with open(f"/proc/{pid}/{file}") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            parts = f.read().split(b"\0")
        return " ".join(p.decode(errors="replace") for p in parts[:4])[:100]
    except OSError:
        return "?"


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
