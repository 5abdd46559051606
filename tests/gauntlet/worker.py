"""Run and check one dataset (in a worker process; see :mod:`tests.gauntlet.driver`)."""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
from pathlib import Path

import pandas as pd

from tests.gauntlet import pipeline as gp
from tests.gauntlet import serving_check, stats_check

METRIC = {"classification": ("accuracy", "higher"), "regression": ("rmse", "lower")}


def run_dataset(job: dict) -> dict:
    """Run one dataset's pipeline and every check; never raises (harness errors are results).

    Args:
        job: ``name``, ``target``, ``primary`` (csv/parquet), ``folder`` (holds data/).
    """
    started = time.time()
    result = {"name": job["name"], "target": job["target"], "primary": job["primary"],
              "traits": job["traits"], "notes": list(job["notes"]), "stats_problems": [],
              "parity_problems": [], "rows_lost": [], "raw_tracebacks": 0}
    try:
        _run_and_check(job, result)
    except Exception as e:  # a bug in the harness: recorded, never hidden
        result["outcome"] = "harness_error"
        result["message"] = "".join(traceback.format_exception(e))[-2000:]
    result["seconds"] = round(time.time() - started, 2)
    if result.get("outcome") == "completed" and not job.get("keep"):
        shutil.rmtree(Path(job["folder"]) / "run", ignore_errors=True)
    return result


def _run_and_check(job: dict, result: dict) -> None:
    folder = Path(job["folder"])
    frame = pd.read_parquet(folder / "data" / "parquet" / "data.parquet")
    result["rows"], result["columns"] = frame.shape
    os.environ["GRISTMILL_HOME"] = str(folder / "run" / "home")
    pipeline = gp.build_pipeline(job["name"], folder / "data", folder / "run", job["target"],
                                 job["primary"])
    run = gp.run_pipeline(pipeline)
    result.update(status=run.status, outcome=run.outcome, message=run.message[:3000],
                  node_states=run.node_states, raw_tracebacks=run.raw_tracebacks)
    _check_ingestion(frame, run, result)
    if run.status == "COMPLETE":
        _check_model(job, frame, run, result)


def _check_ingestion(frame: pd.DataFrame, run: gp.RunOutcome, result: dict) -> None:
    for fmt, gen in (("csv", "CsvExampleGen"), ("parquet", "ParquetExampleGen")):
        examples = run.uris.get(f"{gen}.examples")
        statistics = run.uris.get(f"StatisticsGen_{fmt}.statistics")
        if not examples:
            continue
        splits = sorted(d[len("Split-"):] for d in os.listdir(examples) if d.startswith("Split-"))
        bad = int(run.metrics.get(gen, {}).get("bad_records", 0))
        problems, notes = stats_check.check_whole_file(frame, examples, splits, bad, fmt)
        result["rows_lost"] += problems
        result["notes"] += notes
        if statistics:
            result["stats_problems"] += [f"{fmt}: {p}" for p in
                                         stats_check.check_statistics(examples, statistics,
                                                                      splits)]


def _check_model(job: dict, frame: pd.DataFrame, run: gp.RunOutcome, result: dict) -> None:
    gen = "CsvExampleGen" if job["primary"] == "csv" else "ParquetExampleGen"
    raw_uri = run.uris[f"{gen}.examples"]
    transformed_uri = run.uris["Transform.transformed_examples"]
    model_uri = run.uris["Trainer.model"]
    with open(os.path.join(model_uri, "bundle.json")) as f:
        bundle = json.load(f)
    task, target = bundle["task"], job["target"]
    result["task"] = task
    result["skipped_rows"] = bundle.get("training", {}).get("skipped_rows")
    for split in ("train", "eval"):
        raw_rows = len(stats_check.read_split(raw_uri, split))
        done = len(stats_check.read_split(transformed_uri, split))
        if raw_rows != done:
            result["rows_lost"].append(f"Transform {split}: {done} rows of {raw_rows}")
    train = stats_check.read_split(raw_uri, "train")[target]
    evaluation = stats_check.read_split(raw_uri, "eval")[target]
    evaluator = run.metrics.get("Evaluator", {})
    labelled = int(evaluation.notna().sum())
    with open(os.path.join(run.uris["Evaluator.evaluation"], "metrics.json")) as f:
        skipped = json.load(f).get("skipped_examples") or {}
    result["evaluator_skipped"] = skipped
    counted = int(evaluator.get("eval_example_count", -1)) + sum(
        v for k, v in skipped.items() if k != "null label")
    if counted != labelled:
        result["rows_lost"].append(f"Evaluator: example_count {evaluator.get('eval_example_count')}"
                                   f" + skipped {skipped} != {labelled} labelled eval rows")
    name, direction = METRIC[task]
    result["metric"] = name
    result["model_metric"] = evaluator.get(f"eval_{name}")
    result["baseline"] = serving_check.baseline(task, train, evaluation)
    result["evaluator_baseline"] = evaluator.get(f"eval_baseline_{name}")
    result["below_baseline"] = _below(result["model_metric"], result["baseline"], direction)
    if result["below_baseline"]:
        result["reference"] = serving_check.reference_metric(model_uri, transformed_uri, task)
    parity = serving_check.check_parity(model_uri, raw_uri, transformed_uri)
    result["parity_problems"] = parity["problems"]
    result["parity_rows"] = parity["rows"]


def _below(model: float | None, base: float | None, direction: str) -> bool:
    if model is None or base is None:
        return False
    return model < base - 1e-12 if direction == "higher" else model > base + 1e-12
