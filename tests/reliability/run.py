"""``make reliability``: run every harness and print one JSON object as the last line.

Usage: ``python -m tests.reliability.run [--quick] [--only crash,security ...]``. The JSON
line holds ``trials`` and ``failures`` totals and, per harness, its trials, failures,
seconds, the first failure details and figures. Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any

from . import (
    arrow_types,
    bad_input,
    concurrency,
    confinement,
    crash,
    degenerate,
    first_start,
    integrity,
    redaction,
    same_name,
    security,
)

FULL = {
    "security": lambda: security.run(),
    "integrity": lambda: integrity.run(),
    "concurrency": lambda: concurrency.run(sizes=(4, 8), repeats=2),
    "bad_input": lambda: bad_input.run(),
    "crash": lambda: crash.run(trials=100),
    "confinement": lambda: confinement.run(examples=200),
    "first_start": lambda: first_start.run(kills=40, mlflow_kills=12, damaged=200),
    "redaction": lambda: redaction.run(examples=400),
    "same_name": lambda: same_name.run(trials=40),
    "arrow_types": lambda: arrow_types.run(tables_count=12),
    "degenerate": lambda: degenerate.run(tables_count=30),
}
QUICK = {
    "security": lambda: security.run(),
    "integrity": lambda: integrity.run(),
    "concurrency": lambda: concurrency.run(sizes=(4,), repeats=1),
    "bad_input": lambda: bad_input.run({k: max(1, n // 10)
                                        for k, n in bad_input.DEFAULT_COUNTS.items()}),
    "crash": lambda: crash.run(trials=10),
    "confinement": lambda: confinement.run(examples=30),
    "first_start": lambda: first_start.run(kills=6, mlflow_kills=2, damaged=30),
    "redaction": lambda: redaction.run(examples=60),
    "same_name": lambda: same_name.run(trials=12),
    "arrow_types": lambda: arrow_types.run(tables_count=2),
    "degenerate": lambda: degenerate.run(tables_count=4),
}


def main(argv: list[str] | None = None) -> int:
    """Run the selected harnesses; print progress to stderr and the JSON line to stdout."""
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.run")
    parser.add_argument("--quick", action="store_true", help="about a tenth of the trials")
    parser.add_argument("--only", default="", help="comma-separated harness names")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    names = [n for n in plan if not args.only or n in args.only.split(",")]
    # Expected warnings (cache misses on tampered artifacts) are not results.
    logging.getLogger("gristmill.orchestrator.launcher").setLevel(logging.ERROR)
    os.environ.setdefault("GRISTMILL_MLFLOW_MIRROR", "off")
    started = time.time()
    harnesses: dict[str, Any] = {}
    for name in names:
        print(f"reliability: {name} ...", file=sys.stderr, flush=True)
        try:
            harnesses[name] = plan[name]()
        except Exception as e:  # one broken harness must not hide the others' results
            harnesses[name] = {"trials": 1, "failures": 1,
                               "details": [f"harness crashed: {type(e).__name__}: {e}"]}
        h = harnesses[name]
        print(f"reliability: {name}: {h['trials']} trials, {h['failures']} failures, "
              f"{h.get('seconds', '?')} s", file=sys.stderr, flush=True)
    summary = {"trials": sum(h["trials"] for h in harnesses.values()),
               "failures": sum(h["failures"] for h in harnesses.values()),
               "seconds": round(time.time() - started, 1), "harnesses": harnesses}
    print(json.dumps(summary, default=str))
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
