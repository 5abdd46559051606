"""The penguin pipeline end to end: quality, caching, pushing, bulk inference, lineage."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pipeline_runs import PENGUIN, REPO, UNLABELLED_CSV, PenguinRuns, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

COMPONENTS = {"CsvExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform",
              "Trainer", "latest_blessed_model_resolver", "Evaluator", "InfraValidator",
              "Pusher", "UnlabelledExampleGen", "BulkInferrer"}


def _read_json(directory: str, name: str):
    with open(os.path.join(directory, name), encoding="utf-8") as f:
        return json.load(f)


def test_cold_run_completes_every_component(penguin_runs: PenguinRuns):
    cold = penguin_runs.cold
    assert cold.result["status"] == "COMPLETE"
    states = {c["name"]: c["state"] for c in cold.result["components"]}
    assert set(states) == COMPONENTS
    assert set(states.values()) == {"COMPLETE"}, states


def test_eval_accuracy_from_evaluator_output(penguin_runs: PenguinRuns):
    evaluation = penguin_runs.cold.output_uri("Evaluator", "evaluation")
    metrics = _read_json(evaluation, "metrics.json")
    overall = metrics["slices"][0]
    assert overall["slice"] == "Overall"
    assert overall["candidate"]["metrics"]["accuracy"] >= 0.97
    # Every eval row was scored: 326 labelled rows, about a third in eval.
    assert 80 <= overall["candidate"]["metrics"]["example_count"] <= 140
    blessing = penguin_runs.cold.output_uri("Evaluator", "blessing")
    assert os.path.exists(os.path.join(blessing, "BLESSED"))


def test_second_identical_run_is_fully_cached(penguin_runs: PenguinRuns):
    cached = penguin_runs.cached
    assert cached.result["status"] == "COMPLETE"
    states = {c["name"]: c["state"] for c in cached.result["components"]}
    resolver = states.pop("latest_blessed_model_resolver")
    assert resolver == "COMPLETE"  # resolvers look the store up on every run
    assert set(states.values()) == {"CACHED"}, states
    # Cached nodes point at the very artifacts of the cold run.
    assert (cached.output_uri("Trainer", "model")
            == penguin_runs.cold.output_uri("Trainer", "model"))


def test_pusher_pushed_and_registry_alias_is_champion(penguin_runs: PenguinRuns):
    from mlflow import MlflowClient

    pushed = _read_json(penguin_runs.cold.output_uri("Pusher", "pushed_model"),
                        "push_result.json")
    assert pushed["pushed"] == 1, pushed
    destination = Path(pushed["pushed_destination"])
    assert destination.parent == penguin_runs.home / "serving_model" / "penguin"
    assert (destination / "bundle.json").exists()
    client = MlflowClient(tracking_uri=f"sqlite:///{penguin_runs.home}/mlflow.db")
    champion = client.get_model_version_by_alias("penguin", "champion")
    assert str(champion.version) == str(pushed["registered_model_version"])
    assert champion.tags["gristmill.run_id"] == penguin_runs.cold.result["run_id"]


def test_running_the_file_with_python_works_and_is_cached(penguin_runs: PenguinRuns):
    done = subprocess.run([sys.executable, str(PENGUIN)], env=penguin_runs.env,
                          cwd=penguin_runs.home, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["status"] == "COMPLETE"
    assert {c["state"] for c in result["components"] if c["type"] != "Resolver"} == {"CACHED"}


def test_bulk_inferrer_labels_every_unlabelled_row(penguin_runs: PenguinRuns):
    with open(UNLABELLED_CSV, encoding="utf-8") as f:
        expected = sum(1 for _ in csv.DictReader(f))
    output = penguin_runs.cold.output_uri("BulkInferrer", "output_examples")
    table = pq.read_table(os.path.join(output, "Split-unlabelled"))
    assert table.num_rows == expected == 18
    assert "species" not in table.column_names
    assert set(table.column("prediction").to_pylist()) <= {"Adelie", "Chinstrap", "Gentoo"}
    assert table.column("prediction").null_count == 0


def test_model_lineage_reaches_the_csv_example_gen(penguin_runs: PenguinRuns):
    model_id = penguin_runs.cold.component("Trainer")["outputs"]["model"][0]["id"]
    done = run_cli(["lineage", str(model_id), "--direction", "upstream", "--hops", "8"],
                   penguin_runs.env, cwd=penguin_runs.home)
    assert done.returncode == 0, done.stderr
    text = json.dumps(done.result)
    for producer in ("Transform", "SchemaGen", "StatisticsGen", "CsvExampleGen"):
        assert producer in text


def test_module_edit_reruns_transform_and_downstream_only(penguin_runs: PenguinRuns,
                                                           tmp_path):
    """A changed module file is a cache miss for Transform and what depends on it."""
    module = tmp_path / "penguin_module.py"
    source = (PENGUIN.parent / "penguin_module.py").read_text()
    module.write_text(source + "\n# an edit that changes the file's hash\n")
    done = run_cli(["explain", str(PENGUIN), f"--param=module_file={module}"],
                   penguin_runs.env, cwd=REPO)
    verdicts = {c["name"]: c["verdict"] for c in done.result["components"]}
    assert verdicts["CsvExampleGen"] == verdicts["StatisticsGen"] == "hit"
    assert verdicts["Transform"] == verdicts["Trainer"] == "miss"


def test_explain_prints_every_node_after_a_run(penguin_runs: PenguinRuns):
    done = subprocess.run([sys.executable, "-m", "gristmill.orchestrator.cli", "explain",
                           str(PENGUIN)], env=penguin_runs.env, cwd=penguin_runs.home,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    verdicts = {}
    for line in done.stdout.splitlines():
        if line and not line.startswith(" "):  # indented lines are the reasons
            verdict, node = line.split()[:2]
            verdicts[node] = verdict
    assert verdicts.pop("latest_blessed_model_resolver") == "RESOLVE"
    assert set(verdicts.values()) == {"HIT"}, verdicts


def test_model_onnx_takes_raw_columns_and_matches_the_python_bundle(penguin_runs: PenguinRuns):
    # Issue 19 #1: the penguin Model artifact's model.onnx reads the raw CSV columns.
    import numpy as np
    import pyarrow.csv as pacsv

    from gristmill.engine.onnx_runtime import load_raw_onnx
    from gristmill.engine.serving import load_bundle

    model_uri = penguin_runs.cold.output_uri("Trainer", "model")
    onnx_model = load_raw_onnx(model_uri)
    assert sorted(i.name for i in onnx_model.session.get_inputs()) == [
        "bill_depth_mm", "bill_length_mm", "body_mass_g", "flipper_length_mm", "island", "sex"]
    rows = pacsv.read_csv(REPO / "pipelines" / "penguin" / "data" / "labelled" / "penguins.csv")
    python = load_bundle(model_uri).predict(rows)
    got = onnx_model.predict(rows)
    assert got["prediction"].to_pylist() == python["prediction"].to_pylist()
    diff = np.abs(np.asarray(got["probabilities"].to_pylist()) -
                  np.asarray(python["probabilities"].to_pylist()))
    assert float(diff.max()) <= 1e-5
