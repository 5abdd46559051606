"""The gauntlet driver: select, write files, run datasets in worker processes, summarise.

Workers are spawned processes that each run many datasets in turn (Gristmill in-process,
MLflow mirror off); a dataset that runs past ``--timeout`` has its worker killed and
replaced, and is recorded as a timeout. Every result is a JSON file under
``<workdir>/results/``, so an interrupted run resumes where it stopped (``--fresh`` starts
over). The last stdout line is the summary JSON.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import sys
import time
from multiprocessing.connection import wait
from pathlib import Path

COUNTED = ("completed", "clear_error", "internal_error", "harness_error")


def job_id(name: str) -> str:
    """A file-safe id of ``package/item``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name.replace("/", "__"))


def prepare_jobs(datasets: list, workdir: Path, keep: bool) -> list[dict]:
    """Write each dataset's CSV and Parquet (once) and describe its job."""
    from tests.gauntlet.pipeline import write_files

    jobs = []
    for position, ds in enumerate(datasets):
        folder = workdir / "datasets" / job_id(ds.name)
        if not (folder / "data" / "parquet" / "data.parquet").exists():
            write_files(ds.frame, folder / "data")
        jobs.append({"name": ds.name, "target": ds.target, "traits": ds.traits,
                     "notes": ds.notes, "folder": str(folder), "keep": keep,
                     "primary": "csv" if position % 2 == 0 else "parquet",
                     "source_rows": ds.source_rows})
    return jobs


def _worker_main(conn, log_path: str) -> None:
    """Worker process: run jobs received on ``conn`` until ``None``."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    from tests.gauntlet.worker import run_dataset

    while True:
        job = conn.recv()
        if job is None:
            return
        conn.send(run_dataset(job))


class Worker:
    """One spawned worker process and the job it is running."""

    def __init__(self, ctx, log_path: Path):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, str(log_path)),
                                   daemon=True)
        self.process.start()
        self.job: dict | None = None
        self.deadline = 0.0

    def start(self, job: dict, timeout: float) -> None:
        self.job, self.deadline = job, time.time() + timeout
        self.conn.send(job)

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)


def run_jobs(jobs: list[dict], workdir: Path, workers: int, timeout: float) -> None:
    """Run every job without a result file; write each result as it arrives."""
    os.environ["GRISTMILL_MLFLOW_MIRROR"] = "off"
    results = workdir / "results"
    results.mkdir(parents=True, exist_ok=True)
    todo = [j for j in jobs if not (results / f"{job_id(j['name'])}.json").exists()]
    ctx = multiprocessing.get_context("spawn")
    pool = [Worker(ctx, workdir / f"worker-{i}.log") for i in range(min(workers, len(todo)))]
    done, total = len(jobs) - len(todo), len(jobs)
    while todo or any(w.job for w in pool):
        for w in pool:
            if w.job is None and todo:
                w.start(todo.pop(0), timeout)
        busy = [w for w in pool if w.job]
        ready = wait([w.conn for w in busy], timeout=1.0)
        for i, w in enumerate(pool):
            if not w.job:
                continue
            result = None
            if w.conn in ready:
                try:
                    result = w.conn.recv()
                except EOFError:
                    result = _lost(w.job, "worker process died (see worker log)")
            elif time.time() > w.deadline or not w.process.is_alive():
                result = _lost(w.job, f"no result within {timeout:.0f} s" if
                               w.process.is_alive() else "worker process died")
            if result is None:
                continue
            if result.get("outcome") == "timeout" or not w.process.is_alive() or \
                    result.get("worker_lost"):
                w.kill()
                pool[i] = Worker(ctx, workdir / f"worker-{i}.log")
            else:
                w.job = None
            (results / f"{job_id(result['name'])}.json").write_text(json.dumps(result, indent=1))
            done += 1
            print(f"[{done}/{total}] {result['name']}: {result.get('outcome')} "
                  f"({result.get('seconds', 0):.0f} s)", file=sys.stderr, flush=True)
    for w in pool:
        if w.process.is_alive():
            w.conn.send(None)
            w.process.join(10)


def _lost(job: dict, why: str) -> dict:
    return {"name": job["name"], "target": job["target"], "primary": job["primary"],
            "traits": job["traits"], "notes": job["notes"], "outcome": "timeout",
            "message": why, "worker_lost": True, "stats_problems": [], "parity_problems": [],
            "rows_lost": [], "raw_tracebacks": 0, "seconds": 0}


def load_results(jobs: list[dict], workdir: Path) -> list[dict]:
    """The result of every job, in selection order."""
    out = []
    for job in jobs:
        path = workdir / "results" / f"{job_id(job['name'])}.json"
        result = json.loads(path.read_text())
        result["source_rows"] = job["source_rows"]
        reclassify(result)
        if "distinct_rows" not in result:
            import pandas as pd

            frame = pd.read_parquet(Path(job["folder"]) / "data" / "parquet" / "data.parquet")
            result["distinct_rows"] = len(frame.drop_duplicates())
        out.append(result)
    return out


def reclassify(result: dict) -> None:
    """Derive the outcome from the run's status and error alone (results written before the
    raw-traceback count was split from the outcome folded the two together)."""
    from tests.gauntlet.pipeline import classify_error

    if result.get("outcome") not in ("internal_error", "clear_error") or "status" not in result:
        return
    error = (result.get("message") or "").split("\n(raw traceback logged")[0]
    if result["status"] == "COMPLETE":
        result["outcome"] = "completed"
    elif " halted: " in error.splitlines()[0] if error else False:
        result["outcome"] = "clear_error"
    elif error and not error.startswith("status "):
        result["outcome"] = classify_error(error)


def summarise(results: list[dict], seconds: float) -> dict:
    """The summary JSON (keys of issue 18, then the extra counts)."""
    def count(pred) -> int:
        return sum(1 for r in results if pred(r))

    return {
        "datasets": len(results),
        "completed": count(lambda r: r.get("outcome") == "completed"),
        "clear_errors": count(lambda r: r.get("outcome") == "clear_error"),
        "internal_errors": count(lambda r: r.get("outcome") in ("internal_error", "timeout")),
        "stats_mismatches": count(lambda r: r["stats_problems"]),
        "parity_mismatches": count(lambda r: r["parity_problems"]),
        "below_baseline": count(lambda r: r.get("below_baseline")),
        "seconds": round(seconds, 1),
        "dataset_seconds_sum": round(sum(r.get("seconds", 0) for r in results), 1),
        "timeouts": count(lambda r: r.get("outcome") == "timeout"),
        "harness_errors": count(lambda r: r.get("outcome") == "harness_error"),
        "rows_lost": count(lambda r: r["rows_lost"]),
        "raw_tracebacks": count(lambda r: r.get("raw_tracebacks")),
    }
