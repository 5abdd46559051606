"""Replayed runs follow MLflow's conventions (issue 21 items 4, 5, 7): dataset inputs, flat
searchable params, pipeline params, a LoggedModel, slice metrics, source/user tags, system
metrics, and the Tuner's trials as nested runs. A journal with real files is replayed into
a real SQLite tracking store and read back with ``MlflowClient``."""

from __future__ import annotations

import json
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.orchestrator.mlflow import conventions
from gristmill.orchestrator.mlflow.system_metrics import SystemSampler
from gristmill.orchestrator.mlflow.trials import split_trial_metrics
from gristmill.orchestrator.mlflow_replay import replay_file

FINGERPRINT = "blake2b:" + "ab12" * 16


def _examples(tmp_path):
    uri = tmp_path / "examples"
    for split, rows in (("train", 3), ("eval", 2)):
        (uri / f"Split-{split}").mkdir(parents=True)
        pq.write_table(pa.table({"x": [1.5] * rows, "species": ["a"] * rows}),
                       uri / f"Split-{split}" / "part-00000.parquet")
    return {"id": 2, "uri": str(uri), "type": "Examples", "fingerprint": FINGERPRINT,
            "key": "examples", "producer": "CsvExampleGen",
            "row_counts": {"train": 3, "eval": 2}}


def _tuner_results(tmp_path):
    uri = tmp_path / "tuner_results"
    uri.mkdir()
    trials = [{"number": n, "params": {"learning_rate": lr, "hidden_units": [8]},
               "state": "COMPLETE", "value": loss}
              for n, lr, loss in ((0, 0.01, 0.5), (1, 0.03, 0.2))]
    (uri / "trials.json").write_text(json.dumps({"best_trial": 1, "trials": trials}))
    return {"id": 5, "uri": str(uri), "type": "TunerResults"}


def _evaluation(tmp_path):
    uri = tmp_path / "evaluation"
    uri.mkdir()
    slices = [{"slice": "Overall", "features": [], "candidate": {"metrics": {"accuracy": 0.9}}},
              {"slice": "island=Biscoe", "features": [["island", "Biscoe"]],
               "candidate": {"metrics": {"accuracy": 0.75, "example_count": 4.0}}}]
    (uri / "metrics.json").write_text(json.dumps({"slices": slices}))
    return {"id": 9, "uri": str(uri), "type": "ModelEvaluation"}


def _end(node, kind, t, **fields):
    return {"op": "end_node", "node": node, "type": kind, "state": "COMPLETE", "seconds": 1.0,
            "execution_id": t, "error": None, "metrics": {}, "parameters": {}, "inputs": {},
            "outputs": {}, "time": float(t), **fields}


def _journal(tmp_path, tracking):
    examples, model_dir = _examples(tmp_path), tmp_path / "journal.files" / "0001-model"
    model_dir.mkdir(parents=True)
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    model = {"id": 7, "uri": str(tmp_path / "model"), "type": "Model"}
    events = [
        {"op": "start_pipeline", "pipeline": "conv", "run_id": "r1", "tracking_uri": tracking,
         "params": {"epochs": "5", "enable_tuning": "True"}, "root": "/r", "start": 1.0,
         "time": 1.0, "source": "gristmill run p.py", "user": "ada"},
        {"op": "start_node", "node": "CsvExampleGen", "type": "CsvExampleGen",
         "execution_id": 1, "time": 1.0},
        _end("CsvExampleGen", "CsvExampleGen", 1, outputs={"examples": [examples]}),
        {"op": "start_node", "node": "Tuner", "type": "Tuner", "execution_id": 2, "time": 2.0},
        *[{"op": "metrics", "node": "Tuner", "step": step, "time": 2.0 + step / 10,
           "metrics": {f"trial_{n}/val_loss": 1.0 / (step + n + 1) for n in (0, 1)}}
          for step in (1, 2, 3)],
        _end("Tuner", "Tuner", 2, metrics={"best_val_loss": 0.2},
             inputs={"examples": [examples]},
             outputs={"tuner_results": [_tuner_results(tmp_path)]}),
        {"op": "start_node", "node": "Trainer", "type": "Trainer", "execution_id": 3,
         "time": 3.0},
        {"op": "model", "node": "Trainer", "path": str(model_dir), "name": "model",
         "time": 3.5},
        _end("Trainer", "Trainer", 3, metrics={"final_val_loss": 0.3},
             parameters={"config": {"learning_rate": 0.03, "hidden_units": [8]},
                         "custom_config": {}},
             inputs={"examples": [examples]}, outputs={"model": [model]}),
        {"op": "start_node", "node": "Evaluator", "type": "Evaluator", "execution_id": 4,
         "time": 4.0},
        _end("Evaluator", "Evaluator", 4, metrics={"eval_accuracy": 0.9},
             inputs={"examples": [examples], "model": [model]},
             outputs={"evaluation": [_evaluation(tmp_path)]}),
        {"op": "end_pipeline", "status": "COMPLETE", "seconds": 4.0, "time": 5.0},
    ]
    path = tmp_path / "journal.ready"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """``(client, {node or parent or trial-N: Run})`` of the replayed journal."""
    from mlflow import MlflowClient

    tmp_path = tmp_path_factory.mktemp("conv")
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    replay_file(str(_journal(tmp_path, tracking)), tracking)
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("conv")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    named = {r.info.run_name: r for r in runs}
    return client, named


@pytest.mark.integration
def test_datasets_are_mlflow_dataset_inputs_with_digest_source_schema_and_rows(replayed):
    _, runs = replayed
    for node in ("CsvExampleGen", "Tuner", "Trainer", "Evaluator"):
        (logged,) = runs[node].inputs.dataset_inputs
        dataset = logged.dataset
        assert dataset.name == "CsvExampleGen:examples #2"
        assert dataset.digest == ("ab12" * 16)[:36]
        assert json.loads(dataset.source)["uri"].endswith("examples")
        assert {c["name"] for c in json.loads(dataset.schema)["mlflow_colspec"]} == {
            "x", "species"}
        assert json.loads(dataset.profile)["num_rows"] == 5
        context = {t.key: t.value for t in logged.tags}["mlflow.data.context"]
        assert context == ("output" if node == "CsvExampleGen" else "input")
    (ingested,) = runs["r1"].inputs.dataset_inputs  # the parent: what the pipeline read
    assert ingested.dataset.name == "CsvExampleGen:examples #2"
    assert {t.key: t.value for t in ingested.tags}["mlflow.data.context"] == "ingested"


@pytest.mark.integration
def test_params_are_flat_and_the_pipeline_params_are_on_the_parent(replayed):
    _, runs = replayed
    assert runs["Trainer"].data.params["config.learning_rate"] == "0.03"
    assert runs["Trainer"].data.params["config.hidden_units"] == "[8]"
    assert runs["Trainer"].data.params["custom_config"] == "{}"
    assert runs["r1"].data.params == {"epochs": "5", "enable_tuning": "True"}
    for run in runs.values():
        assert run.data.tags["mlflow.user"] == "ada"
        assert run.data.tags["mlflow.source.name"] == "gristmill run p.py"


@pytest.mark.integration
def test_trainer_model_is_a_logged_model_linked_to_its_run_and_metrics(replayed):
    client, runs = replayed
    trainer = runs["Trainer"]
    (output,) = trainer.outputs.model_outputs
    model = client.get_logged_model(output.model_id)
    assert model.source_run_id == trainer.info.run_id
    assert str(model.status) in ("READY", "LoggedModelStatus.READY")
    assert {m.key: m.value for m in model.metrics or []}.get("final_val_loss") == 0.3


@pytest.mark.integration
def test_slice_metrics_are_mlflow_metrics(replayed):
    _, runs = replayed
    metrics = runs["Evaluator"].data.metrics
    assert metrics["eval_accuracy/slice/island:Biscoe"] == 0.75
    assert metrics["eval_example_count/slice/island:Biscoe"] == 4.0
    assert metrics["eval_accuracy"] == 0.9


@pytest.mark.integration
def test_tuner_trials_are_nested_runs_with_params_curves_and_the_best_tagged(replayed):
    client, runs = replayed
    tuner = runs["Tuner"]
    assert not any(k.startswith("trial_") for k in tuner.data.metrics)
    for number, lr in ((0, "0.01"), (1, "0.03")):
        trial = runs[f"trial-{number}"]
        assert trial.data.tags["mlflow.parentRunId"] == tuner.info.run_id
        assert trial.data.params["learning_rate"] == lr
        assert trial.data.tags["gristmill.best_trial"] == str(number == 1).lower()
        curve = client.get_metric_history(trial.info.run_id, "val_loss")
        assert [(p.step, p.value) for p in curve] == [
            (s, 1.0 / (s + number + 1)) for s in (1, 2, 3)]


@pytest.mark.unit
def test_flatten_params_and_slice_names():
    assert conventions.flatten_params({"a": {"b": {"c": 1}}, "d": None, "e": "x"}) == {
        "a.b.c": "1", "d": "null", "e": "x"}
    assert split_trial_metrics({"trial_3/loss": 1.0, "best": 2.0}) == (
        {"best": 2.0}, {3: {"loss": 1.0}})


@pytest.mark.unit
def test_two_slices_with_the_same_mlflow_name_are_both_skipped(tmp_path, caplog):
    slices = [{"features": [["city", "a=b"]], "candidate": {"metrics": {"accuracy": 0.1}}},
              {"features": [["city", "a@b"]], "candidate": {"metrics": {"accuracy": 0.2}}}]
    (tmp_path / "metrics.json").write_text(json.dumps({"slices": slices}))
    assert conventions.slice_metrics(str(tmp_path)) == {}
    assert "eval_accuracy/slice/city:a_b" in caplog.text


@pytest.mark.unit
def test_system_sampler_reports_cpu_and_memory_at_start_and_end():
    points = []
    sampler = SystemSampler(lambda metrics, step: points.append((step, metrics)),
                            interval=0.05)
    time.sleep(0.2)
    sampler.stop()
    assert [step for step, _ in points] == list(range(len(points))) and len(points) >= 3
    last = points[-1][1]
    assert 0.0 <= last["system/cpu_utilization_percentage"] <= 100.0
    assert 0.0 < last["system/system_memory_usage_percentage"] < 100.0
    assert last["system/process_rss_megabytes"] > 10
