"""``python -m tests.gauntlet [--quick]``: the real-data gauntlet (docs/gauntlet.md)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.gauntlet import driver, selection


def main(argv: list[str] | None = None) -> dict:
    """Run the gauntlet; print progress on stderr and the summary JSON as the last stdout line."""
    parser = argparse.ArgumentParser(prog="python -m tests.gauntlet", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="30 small datasets (make test)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per dataset")
    parser.add_argument("--workdir", help="results and pipeline roots (resumable)")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    parser.add_argument("--keep", action="store_true", help="keep roots of completed runs")
    parser.add_argument("--limit", type=int, help="only the first N selected datasets")
    parser.add_argument("--only", action="append", help="only this package/item (repeatable)")
    parser.add_argument("--write-docs", help="write the results table into this markdown file")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    workdir = Path(args.workdir or Path(tempfile.gettempdir()) / f"gristmill-gauntlet-{mode}")
    if args.fresh:
        shutil.rmtree(workdir, ignore_errors=True)
    started = time.time()
    jobs, left_out = _jobs(args, workdir)
    print(f"gauntlet ({mode}): {len(jobs)} datasets; pool left out {left_out}; "
          f"workdir {workdir}", file=sys.stderr, flush=True)
    driver.run_jobs(jobs, workdir, args.jobs, args.timeout)
    results = driver.load_results(jobs, workdir)
    summary = driver.summarise(results, _wall_seconds(workdir, time.time() - started))
    (workdir / "summary.json").write_text(json.dumps(summary, indent=1))
    if args.write_docs:
        from tests.gauntlet.report import write_table

        write_table(Path(args.write_docs), results, summary, left_out, mode)
    print(json.dumps(summary))
    return summary


def _wall_seconds(workdir: Path, this_run: float) -> float:
    """Wall time of every invocation on this workdir since ``--fresh`` (a resumed run adds
    to the earlier ones), kept in ``wall_seconds.txt``."""
    path = workdir / "wall_seconds.txt"
    total = (float(path.read_text()) if path.exists() else 0.0) + this_run
    path.write_text(f"{total:.1f}\n")
    return total


def _jobs(args, workdir: Path) -> tuple[list[dict], dict]:
    """The selection's jobs: from ``jobs.json`` when resuming (the selection is fixed, and
    re-deriving it loads every dataset), else selected and written afresh."""
    saved = workdir / "jobs.json"
    if saved.exists():
        state = json.loads(saved.read_text())
        jobs, left_out = state["jobs"], state["left_out"]
    else:
        if args.quick:
            datasets, left_out = selection.select(
                selection.QUICK_COUNT, selection.QUICK_QUOTA, max_rows=2000,
                strata=selection.STRATA[:-1])
        else:
            datasets, left_out = selection.select(selection.FULL_COUNT,
                                                  selection.FULL_QUOTA)
        jobs = driver.prepare_jobs(datasets, workdir, keep=False)
        workdir.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps({"jobs": jobs, "left_out": left_out}))
    for job in jobs:
        job["keep"] = args.keep
    if args.only:
        jobs = [j for j in jobs if j["name"] in args.only]
    return (jobs[:args.limit] if args.limit else jobs), left_out


if __name__ == "__main__":
    main()
