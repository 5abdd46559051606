"""Trainer: the no-code path, user run_fn / module_file, tuned hyperparameters, warm start,
the MLflow pyfunc."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.components.framework.base import Channel
from gristmill.components.framework.executor import ExecutionContext, Reporter
from gristmill.components.framework.trainer_config import EvalArgs, TrainArgs, TrainerConfig
from gristmill.components.trainer.component import Trainer
from gristmill.components.trainer.config import TrainerParameters
from gristmill.components.trainer.executor import TrainerExecutor
from gristmill.metadata.errors import ConfigError, DataError, ExecutorError
from gristmill.metadata.standard_artifacts import Examples, HyperParameters, Model, ModelRun

pytestmark = pytest.mark.integration


def table(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], n)
    label = np.where(x1 + (color == "red") * 1.5 > 0.5, "yes", "no")
    return pa.table({"x1": x1, "color": color, "label": label})


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Examples:
    root = tmp_path_factory.mktemp("examples")
    artifact = Examples(str(root), id=1)
    artifact.splits = ["train", "eval"]
    for split, n, seed in (("train", 600, 0), ("eval", 200, 1)):
        os.makedirs(artifact.split_uri(split))
        pq.write_table(table(n, seed), f"{artifact.split_uri(split)}/part-00000.parquet")
    return artifact


class RecordingReporter(Reporter):
    def __init__(self):
        self.metrics: list[tuple[int | None, dict]] = []
        self.models: list[str] = []

    def log_metrics(self, metrics, step=None):
        self.metrics.append((step, dict(metrics)))

    def log_model(self, model_dir, name="model"):
        self.models.append(model_dir)


def run_trainer(tmp_path, examples, extra_inputs=None, **params):
    model, run = Model(str(tmp_path / "model")), ModelRun(str(tmp_path / "run"))
    os.makedirs(model.uri)
    os.makedirs(run.uri)
    reporter = RecordingReporter()
    context = ExecutionContext(component_id="Trainer", tmp_dir=str(tmp_path / "tmp"),
                               reporter=reporter)
    os.makedirs(context.tmp_dir)
    TrainerExecutor(context).Do({"examples": [examples], **(extra_inputs or {})},
                                {"model": [model], "model_run": [run]},
                                TrainerParameters(**params))
    return model, run, reporter


FAST = dict(label_key="label", epochs=4, batch_size=64, learning_rate=1e-2, exports=["onnx"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, examples):
    return run_trainer(tmp_path_factory.mktemp("trained"), examples,
                       config=TrainerConfig(**FAST))


def test_default_path_writes_bundle_curves_and_pyfunc(trained):
    model, run, reporter = trained
    assert {"bundle.json", "weights.safetensors", "model.onnx", "mlflow_model"} <= set(
        os.listdir(model.uri))
    assert {"history.json", "curves.csv", "metrics.json"} <= set(os.listdir(run.uri))
    curve = [(step, m["val_accuracy"]) for step, m in reporter.metrics if step is not None]
    assert [step for step, _ in curve] == [1, 2, 3, 4]
    final = [m for step, m in reporter.metrics if step is None][-1]
    assert final["val_accuracy"] >= 0.9
    assert reporter.models == [os.path.join(model.uri, "mlflow_model")]
    assert model.get_custom_property("task") == "classification"
    assert model.get_custom_property("exports") == ["onnx"]
    assert run.get_custom_property("final_metrics")["val_accuracy"] == final["val_accuracy"]


def test_bundle_serves_raw_records(trained):
    from gristmill.engine.serving import load_bundle

    bundle = load_bundle(trained[0].uri, backend="onnx")
    got = bundle.predict(table(100, 7).drop_columns(["label"]))
    accuracy = np.mean(np.array(got["prediction"].to_pylist()) == table(100, 7)["label"])
    assert accuracy >= 0.9
    assert bundle.raw_feature_names == ["x1", "color"]


def test_user_run_fn_receives_fn_args(tmp_path, examples):
    seen = {}

    def run_fn(fn_args):
        seen.update(train=fn_args.train_files, eval=fn_args.eval_files,
                    hp=fn_args.hyperparameters, custom=fn_args.custom_config,
                    steps=fn_args.train_steps, rows=fn_args.train_table().num_rows)
        from gristmill.components.trainer.run import default_run_fn

        default_run_fn(fn_args)

    run_trainer(tmp_path, examples, run_fn=run_fn, custom_config={"owner": "me"},
                train_args=TrainArgs(num_steps=5), config=TrainerConfig(**FAST))
    assert seen["train"][0].endswith("Split-train/part-00000.parquet")
    assert seen["eval"][0].endswith("Split-eval/part-00000.parquet")
    assert seen["hp"]["batch_size"] == 64 and seen["custom"] == {"owner": "me"}
    assert seen["steps"] == 5 and seen["rows"] == 600
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history) == 1  # 5 steps < one epoch of 10 batches


def test_module_file_and_missing_bundle(tmp_path, examples):
    module = tmp_path / "my_trainer.py"
    module.write_text("def run_fn(fn_args):\n    fn_args.log_metrics({'hello': 1.0}, step=1)\n")
    with pytest.raises(ExecutorError, match="wrote no serving bundle"):
        run_trainer(tmp_path, examples, module_file=str(module))
    with pytest.raises(ConfigError, match="defines no function 'train'"):
        run_trainer(tmp_path / "b", examples, module_file=str(module), run_fn="train")


def test_tuned_hyperparameters_override_the_config(tmp_path, examples):
    tuned = HyperParameters(str(tmp_path / "hp"))
    os.makedirs(tuned.uri)
    (tmp_path / "hp" / "best_hyperparameters.json").write_text(json.dumps({"epochs": 2}))
    _, run, _ = run_trainer(tmp_path, examples, {"hyperparameters": [tuned]},
                            config=TrainerConfig(**FAST))
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())) == 2


def test_warm_start_from_a_base_model(tmp_path, examples, trained):
    config = TrainerConfig(**{**FAST, "epochs": 1, "learning_rate": 1e-6, "exports": []})
    _, run, _ = run_trainer(tmp_path, examples, {"base_model": [trained[0]]}, config=config)
    # With a negligible learning rate only the base weights can explain the accuracy.
    assert run.get_custom_property("final_metrics")["val_accuracy"] >= 0.9


def test_configuration_errors(tmp_path, examples):
    with pytest.raises(ConfigError, match="needs a label column"):
        run_trainer(tmp_path / "a", examples)
    with pytest.raises(DataError, match="no Parquet files for split 'test'"):
        run_trainer(tmp_path / "b", examples, config=TrainerConfig(**FAST),
                    eval_args=EvalArgs(splits=["eval"]), train_args=TrainArgs(splits=["test"]))
    with pytest.raises(ConfigError, match="invalid hyperparameters"):
        tuned = HyperParameters(str(tmp_path / "hp"))
        os.makedirs(tuned.uri)
        (tmp_path / "hp" / "best_hyperparameters.json").write_text('{"epochz": 2}')
        run_trainer(tmp_path / "c", examples, {"hyperparameters": [tuned]},
                    config=TrainerConfig(**FAST))


def test_component_checks_channel_types():
    examples = Channel(Examples, None, "examples")
    trainer = Trainer(examples=examples, config={"label_key": "label"})
    assert set(trainer.outputs) == {"model", "model_run"}
    assert trainer.parameters.config.label_key == "label"
    with pytest.raises(ConfigError, match="expected an? Examples channel, got Model"):
        Trainer(examples=trainer.outputs["model"])
    second = Trainer(examples=examples, base_model=trainer.outputs["model"])
    assert second.inputs["base_model"].producer is trainer
    with pytest.raises(ConfigError, match="unknown parameter 'epochs'"):
        Trainer(examples=examples, epochs=3)


PREPROCESSING = """
import gristmill.components.transform_ops as gt

def preprocessing_fn(inputs):
    return {"x1_z": gt.scale_to_z_score(inputs["x1"]),
            "color_id": gt.compute_and_apply_vocabulary(inputs["color"]),
            "label": inputs["label"]}
"""


@pytest.fixture(scope="module")
def trained_on_transformed(tmp_path_factory, examples):
    """Transform, then the Trainer on ``transformed_examples`` (the TFX wiring)."""
    from gristmill.components.transform import Transform
    from gristmill.metadata.standard_artifacts import TransformCache, TransformGraph

    tmp = tmp_path_factory.mktemp("transformed")
    (tmp / "preprocessing.py").write_text(PREPROCESSING)
    out = {"transform_graph": [TransformGraph(str(tmp / "graph"))],
           "transformed_examples": [Examples(str(tmp / "transformed"),
                                             output_key="transformed_examples")],
           "updated_analyzer_cache": [TransformCache(str(tmp / "cache"))]}
    for artifacts in out.values():
        os.makedirs(artifacts[0].uri)
    Transform.EXECUTOR(ExecutionContext(component_id="Transform", tmp_dir=str(tmp))).Do(
        {"examples": [examples]}, out,
        Transform.PARAMETERS(module_file=str(tmp / "preprocessing.py")))
    return run_trainer(tmp / "trainer", out["transformed_examples"][0],
                       {"transform_graph": out["transform_graph"]},
                       config=TrainerConfig(**{**FAST, "exports": []}))


def test_trains_on_transformed_examples_and_serves_raw_records(trained_on_transformed):
    from gristmill.engine.serving import load_bundle

    model, run, _ = trained_on_transformed
    assert run.get_custom_property("final_metrics")["val_accuracy"] >= 0.9
    bundle = load_bundle(model.uri)
    assert bundle.raw_feature_names == ["color", "x1"]
    raw = table(100, 7)
    got = bundle.predict(raw.drop_columns(["label"]))
    assert np.mean(np.array(got["prediction"].to_pylist()) == raw["label"]) >= 0.9
    # The MLflow model's example and signature are raw records, not transformed columns.
    mlflow_dir = os.path.join(model.uri, "mlflow_model")
    with open(os.path.join(mlflow_dir, "input_example.json")) as f:
        example = json.load(f)
    assert example["columns"] == ["color", "x1"] and len(example["data"]) == 5
    assert {row[0] for row in example["data"]} <= {"red", "green", "blue"}
    import yaml

    with open(os.path.join(mlflow_dir, "MLmodel")) as f:
        signature = yaml.safe_load(f)["signature"]
    assert signature["inputs"] is None  # raw inputs are checked by Gristmill, not MLflow
    assert [c["name"] for c in json.loads(signature["outputs"])] == ["prediction",
                                                                      "probabilities"]


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["trained", "trained_on_transformed"])
def test_mlflow_pyfunc_loads_in_a_fresh_process(fixture, request):
    model = request.getfixturevalue(fixture)[0]
    code = ("import sys, mlflow.pyfunc, pandas as pd\n"
            "m = mlflow.pyfunc.load_model(sys.argv[1])\n"
            "out = m.predict(pd.DataFrame({'x1': [2.0, -2.0, None],\n"
            "                              'color': ['red', 'blue', None]}))\n"
            "print(list(out['prediction'])[:2], len(out))\n")
    done = subprocess.run([sys.executable, "-c", code, os.path.join(model.uri, "mlflow_model")],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "['yes', 'no'] 3"


@pytest.mark.e2e
@pytest.mark.slow
def test_mlflow_models_predict_cli_on_raw_json_records(trained_on_transformed, tmp_path):
    records = tmp_path / "records.json"
    records.write_text(json.dumps({"dataframe_records": [
        {"x1": 2, "color": "red"}, {"x1": None, "color": "blue"}, {"color": "green"}]}))
    mlflow = os.path.join(os.path.dirname(sys.executable), "mlflow")
    done = subprocess.run([mlflow, "models", "predict", "-m",
                           os.path.join(trained_on_transformed[0].uri, "mlflow_model"),
                           "-i", str(records), "-t", "json", "--env-manager", "local"],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    predictions = json.loads(done.stdout.strip().splitlines()[-1])["predictions"]
    assert [p["prediction"] for p in predictions][:1] == ["yes"] and len(predictions) == 3
