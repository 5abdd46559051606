"""Trainer: the no-code path, user run_fn / module_file, tuned hyperparameters, warm start,
the MLflow pyfunc."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from trainer_helpers import FAST, run_trainer, table

from gristmill.components.framework.base import Channel
from gristmill.components.framework.executor import ExecutionContext
from gristmill.components.framework.trainer_config import EvalArgs, TrainArgs, TrainerConfig
from gristmill.components.trainer.component import Trainer
from gristmill.metadata.errors import ConfigError, DataError, ExecutorError
from gristmill.metadata.standard_artifacts import Examples, HyperParameters

pytestmark = pytest.mark.integration


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
    assert final["final_val_accuracy"] >= 0.9
    assert reporter.models == [os.path.join(model.uri, "mlflow_model")]
    assert model.get_custom_property("task") == "classification"
    assert model.get_custom_property("exports") == ["onnx", "onnx_tensors"]
    assert run.get_custom_property("final_metrics")["val_accuracy"] == final["final_val_accuracy"]


def test_each_curve_step_is_logged_once_in_order(trained):
    # Issue 18 #10: the final values were logged again under the curve names without a
    # step, which the MLflow mirror records as step 0: the loss seemed to rise, then fall.
    _, run, reporter = trained
    steps: dict[str, list[int]] = {}
    for step, metrics in reporter.metrics:
        for key in metrics:
            steps.setdefault(key, []).append(-1 if step is None else step)
    for key in ("train_loss", "val_loss", "val_accuracy"):
        assert steps[key] == [1, 2, 3, 4], (key, steps[key])
    curves = {k for k, s in steps.items() if s != [-1]}
    for key in curves:
        assert -1 not in steps[key] and steps[key] == sorted(set(steps[key])), (key, steps[key])
    final = {k: s for k, s in steps.items() if k.startswith("final_")}
    assert {"final_val_loss", "final_val_accuracy", "final_epoch"} <= set(final)
    assert all(s == [-1] for s in final.values())
    assert run.get_custom_property("final_metrics")["epoch"] in (1.0, 2.0, 3.0, 4.0)


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
def transformed(tmp_path_factory, examples):
    """Transform's outputs: ``transformed_examples`` and ``transform_graph``."""
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
    return out["transformed_examples"][0], out["transform_graph"][0]


@pytest.fixture(scope="module")
def trained_on_transformed(tmp_path_factory, transformed):
    """The Trainer on ``transformed_examples`` with the transform graph (the TFX wiring)."""
    examples, graph = transformed
    return run_trainer(tmp_path_factory.mktemp("trainer"), examples,
                       {"transform_graph": [graph]},
                       config=TrainerConfig(**{**FAST, "exports": []}))


def test_categorical_features_through_a_transform_are_honoured_or_refused(tmp_path,
                                                                          transformed):
    # Issue 18 #5: a numeric transform output named in categorical_features stayed numeric
    # in bundle.json without a word.
    from gristmill.engine.errors import ConfigError as EngineConfigError

    examples, graph = transformed
    config = {**FAST, "exports": [], "epochs": 1}
    for names, why in ((["x1_z"], "'x1_z' is a numeric output"),
                       (["x1"], "'x1' is not an output of the transform")):
        with pytest.raises(EngineConfigError, match=rf"cannot be honoured.*{why}.*Fix: make "
                                                    r"it categorical in preprocessing_fn"):
            run_trainer(tmp_path / names[0], examples, {"transform_graph": [graph]},
                        config=TrainerConfig(**config, categorical_features=names))
    model, _, _ = run_trainer(tmp_path / "ok", examples, {"transform_graph": [graph]},
                              config=TrainerConfig(**config, categorical_features=["color_id"]))
    bundle = json.loads((tmp_path / "ok" / "model" / "bundle.json").read_text())
    assert bundle["transformed_features"] == {"numeric": ["x1_z"], "categorical": ["color_id"]}


def test_categorical_features_of_raw_examples_are_honoured_or_refused(tmp_path, examples):
    from gristmill.engine.errors import ConfigError as EngineConfigError

    config = {**FAST, "exports": [], "epochs": 1}
    with pytest.raises(EngineConfigError, match=r"\['colour'\] are not columns.*did you mean "
                                                r"'color'"):
        run_trainer(tmp_path / "a", examples,
                    config=TrainerConfig(**config, categorical_features=["colour"]))
    with pytest.raises(EngineConfigError, match=r"\['label'\] is the label"):
        run_trainer(tmp_path / "b", examples,
                    config=TrainerConfig(**config, categorical_features=["label"]))
    run_trainer(tmp_path / "c", examples,
                config=TrainerConfig(**config, categorical_features=["x1"]))
    bundle = json.loads((tmp_path / "c" / "model" / "bundle.json").read_text())
    assert bundle["transformed_features"]["categorical"] == ["x1", "color"]


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


def test_int8_export_writes_model_and_edge_report(tmp_path, examples):
    config = TrainerConfig(label_key="label", epochs=4, batch_size=64, learning_rate=1e-2,
                           exports=["onnx_int8"])
    model, _, reporter = run_trainer(tmp_path, examples, config=config)
    files = set(os.listdir(model.uri))
    assert {"model.onnx", "model_int8.onnx", "edge_report.json"} <= files
    assert model.get_custom_property("exports") == ["onnx", "onnx_int8", "onnx_tensors"]
    with open(os.path.join(model.uri, "edge_report.json"), encoding="utf-8") as f:
        report = json.load(f)
    assert report["format"] == "gristmill.edge_report/1"
    assert report["eval_source"] == "eval split" and report["eval_rows"] == 200
    assert report["metric"] == "accuracy"
    assert report["metric_delta"] == pytest.approx(report["int8_accuracy"] -
                                                   report["float_accuracy"])
    assert report["float_accuracy"] >= 0.9 and abs(report["metric_delta"]) <= 0.05
    assert 0.9 <= report["agreement"] <= 1.0
    for kind in ("float", "int8"):
        assert report[kind]["bytes"] == os.path.getsize(os.path.join(model.uri,
                                                                     report[kind]["file"]))
        assert 0 < report[kind]["p50_ms"] <= report[kind]["p99_ms"]
    assert report["size_ratio"] == pytest.approx(report["int8"]["bytes"] /
                                                 report["float"]["bytes"], abs=1e-4)
    # the int8 graph is a raw-record graph too: raw columns in, classes out
    from gristmill.engine.onnx_runtime import load_raw_onnx

    int8 = load_raw_onnx(model.uri, "onnx_int8")
    got = int8.predict(table(50, 3).drop_columns(["label"]))
    assert set(got.column("prediction").to_pylist()) <= {"yes", "no"}
    logged = {k for _, m in reporter.metrics for k in m}
    assert {"int8_accuracy_delta", "int8_size_ratio"} <= logged
