"""CLI start-up: ``gristmill --help`` wall time vs the floor, a bare ``python -c pass``."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time


def add_arguments(parser) -> None:
    parser.add_argument("--repeat", type=int, default=10, help="timed runs of each command")


def _median_seconds(command: list[str], repeat: int) -> float:
    subprocess.run(command, capture_output=True, check=True)  # warm the page cache and .pyc
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(args) -> dict:
    gristmill = os.path.join(os.path.dirname(sys.executable), "gristmill")
    seconds = _median_seconds([gristmill, "--help"], args.repeat)
    floor = _median_seconds([sys.executable, "-c", "pass"], args.repeat)
    import_seconds = _median_seconds(
        [sys.executable, "-c", "import gristmill.orchestrator, gristmill.components"],
        args.repeat)
    return {"rows": 0, "seconds": round(seconds, 4), "floor_seconds": round(floor, 4),
            "ratio": round(seconds / floor, 2), "import_seconds": round(import_seconds, 4),
            "goal": "gristmill --help <= 0.5 s"}
