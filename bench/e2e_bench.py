"""End-to-end benchmark: a cold and a cached run of a pipeline through the real CLI.

``python bench/run.py e2e --json`` runs ``gristmill run pipelines/penguin/pipeline.py --json``
twice in a fresh ``GRISTMILL_HOME``: the first run is cold (empty store and MLflow database,
fresh processes), the second must be fully cached. Wall times are measured around the whole
CLI process, as a user experiences them (imports, pipeline build, run, exit); the runner's
own time and every component's seconds come from the ``--json`` line. Between the two runs
the benchmark waits for the detached MLflow replay to finish so it does not compete for the
CPU, and reports how long that replay took.

Also measured, each in a fresh interpreter: the import time of the heavy libraries and of
the CLI, and the start-up of an in-process Beam pipeline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMPORTS = {"cli": "gristmill.orchestrator.cli_commands", "apache_beam": "apache_beam",
           "torch": "torch", "mlflow": "mlflow", "pyarrow": "pyarrow", "sqlalchemy": "sqlalchemy"}
BEAM_STARTUP = """
import time
import apache_beam as beam
from gristmill.components.beam.pipeline import make_beam_pipeline
t = time.perf_counter()
with make_beam_pipeline([]) as p:
    p | beam.Create([1, 2, 3]) | beam.Map(lambda x: x + 1)
print(time.perf_counter() - t)
"""


def add_arguments(parser) -> None:
    """``--pipeline FILE`` and repeatable ``--param K=V`` for the pipeline."""
    parser.add_argument("--pipeline", default=str(REPO / "pipelines" / "penguin" / "pipeline.py"))
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--no-probes", action="store_true",
                        help="skip the import and Beam start-up probes")


def run(args) -> dict:
    """Cold run, wait for the MLflow replay, cached run; plus the probes."""
    home = Path(tempfile.mkdtemp(prefix="gristmill-e2e-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRISTMILL_")}
    env["GRISTMILL_HOME"] = str(home)
    pipeline = str(Path(args.pipeline).resolve())  # the runs' working directory is the home
    command = [sys.executable, "-m", "gristmill.orchestrator.cli", "run", pipeline,
               *[f"--param={p}" for p in args.param], "--json"]
    cold, cold_wall = _timed_run(command, env, home)
    replay = watch_replay(home)
    replay_seconds = _wait_for_replay(home / "mirror")
    cached, cached_wall = _timed_run(command, env, home)
    rows = sum(v for c in cold["components"] if c["type"] == "CsvExampleGen"
               for k, v in c["metrics"].items() if k.endswith("_rows"))
    result = {
        "pipeline": pipeline, "rows": int(rows), "seconds": round(cold_wall, 2),
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cold_seconds": round(cold_wall, 2), "cached_seconds": round(cached_wall, 2),
        "cold_run_seconds": cold["seconds"], "cached_run_seconds": cached["seconds"],
        "cold_status": cold["status"], "cached_status": cached["status"],
        "cached_states": sorted({c["state"] for c in cached["components"]}),
        "mlflow_replay_seconds": replay_seconds,
        # The detached replay process(es) of the cold run, from /proc: CPU (user+system,
        # its children included) and wall from when it was first seen until it exited.
        "replay_cpu_seconds": replay["cpu_seconds"],
        "replay_wall_seconds": replay["wall_seconds"],
        "replay_processes": replay["processes"],
        "eval_accuracy": next((c["metrics"].get("eval_accuracy") for c in cold["components"]
                               if c["type"] == "Evaluator"), None),
        "components": {c["name"]: {"cold": c["seconds"], "cached": _seconds(cached, c["name"])}
                       for c in cold["components"]},
        "command": " ".join(["gristmill", *command[3:]]),
        "gristmill_home": str(home),
        # TFX 1.16's penguin pipeline on a 2-core machine (issue figures, not measured here).
        "tfx_reference_seconds": {"in_memory_beam": 109, "default": 251, "cached": 178},
    }
    if not args.no_probes:
        result["import_seconds"] = {name: _import_seconds(module, env)
                                    for name, module in IMPORTS.items()}
        result["beam_pipeline_startup_seconds"] = _beam_startup(env)
    return result


def _timed_run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[dict, float]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{' '.join(command)} printed no JSON:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1]), wall


REPLAY_MODULE = "gristmill.orchestrator.mlflow_replay"


def watch_replay(home: Path, timeout: float = 300.0, appear_within: float = 5.0) -> dict:
    """CPU and wall of the detached replay processes of journals under ``home``.

    They are not our children (they detach), so their CPU comes from ``/proc/<pid>/stat``
    (utime + stime + children's), sampled every 20 ms until each exits: the last sample may
    miss up to 20 ms of CPU per process.
    """
    tick = os.sysconf("SC_CLK_TCK")
    started = time.perf_counter()
    cpu: dict[int, float] = {}
    alive: set[int] = set()
    while time.perf_counter() - started < timeout:
        alive = set()
        for pid, ticks in _replay_processes(str(home)):
            cpu[pid] = ticks / tick
            alive.add(pid)
        if not alive and (cpu or time.perf_counter() - started > appear_within):
            break
        time.sleep(0.02)
    return {"cpu_seconds": round(sum(cpu.values()), 2) if cpu else None,
            "wall_seconds": round(time.perf_counter() - started, 2) if cpu else None,
            "processes": len(cpu)}


def _replay_processes(home: str) -> list[tuple[int, int]]:
    """``(pid, CPU clock ticks)`` of each live replay process whose journal is under home."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            if REPLAY_MODULE.encode() not in args or not any(home.encode() in a for a in args):
                continue
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if fields[0] == "Z":
                continue
            found.append((int(entry.name), sum(int(x) for x in fields[11:15])))
        except OSError:  # it exited meanwhile
            continue
    return found


def _wait_for_replay(mirror: Path, timeout: float = 300.0) -> float | None:
    """Seconds until no journal is pending (the detached replay finished), or None."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if mirror.exists() and not list(mirror.glob("*.ready")) and \
                not list(mirror.glob("*.jsonl")):
            return round(time.perf_counter() - started, 2)
        time.sleep(0.2)
    return None


def _seconds(result: dict, name: str) -> float | None:
    return next((c["seconds"] for c in result["components"] if c["name"] == name), None)


def _import_seconds(module: str, env: dict[str, str]) -> float:
    code = (f"import time; t = time.perf_counter(); import {module}; "
            "print(time.perf_counter() - t)")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    return round(float(done.stdout.strip().splitlines()[-1]), 2)


def _beam_startup(env: dict[str, str]) -> float:
    done = subprocess.run([sys.executable, "-c", BEAM_STARTUP], env=env, capture_output=True,
                          text=True, check=True)
    return round(float(done.stdout.strip().splitlines()[-1]), 2)
