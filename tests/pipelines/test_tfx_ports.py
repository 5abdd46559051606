"""TFX's taxi example, ported by changing imports (pipelines/tfx_taxi/), run end to end on
generated TFX-shaped CSV: the label is made in preprocessing_fn, the Evaluator scores raw
examples against it through the fitted transform, and BinaryAccuracy >= 0.6 blesses."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import sys
import tokenize

import numpy as np
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from pipeline_runs import REPO

PORT = REPO / "pipelines" / "tfx_taxi"
sys.path.insert(0, str(PORT))
import tfx_taxi_data as taxi_data  # noqa: E402 - lives next to the pipeline, not in a package

ROWS = 3000


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"tfx_port_{name}", PORT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.unit
def test_the_pipeline_file_uses_gristmill_only_in_its_imports():
    for name in ("taxi_pipeline.py", "taxi_utils.py"):
        code = (PORT / name).read_text("utf-8")
        body = code.split('"""', 2)[2]  # after the module docstring
        for line in body.splitlines():
            if re.search(r"\bgristmill\b", line):
                assert line.startswith(("import ", "from ", "  from gristmill.components "
                                        "import default_run_fn")), (name, line)
        before_run_fn = body.split("def run_fn")[0]
        names = [t.string for t in tokenize.generate_tokens(io.StringIO(before_run_fn).readline)
                 if t.type == tokenize.NAME]
        assert "tf" not in names and "tensorflow" not in names, name  # code, not comments


@pytest.mark.unit
def test_generated_csv_has_tfx_taxi_columns(tmp_path):
    table = pacsv.read_csv(taxi_data.write_csv(tmp_path, 500, 1))
    assert table.num_rows == 500 and len(table.column_names) == 18
    assert "tips" in table.column_names and "tips_xf" not in table.column_names
    assert pc.sum(pc.equal(table.column("company"), "")).as_py() > 0  # empty = missing
    big = pc.greater(table.column("tips"), pc.multiply(table.column("fare"), 0.2))
    assert 0.3 < pc.mean(pc.cast(big, "int64")).as_py() < 0.7


@pytest.fixture(scope="module")
def taxi_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tfx_taxi")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRISTMILL_HOME", str(tmp / "home"))
        mp.setenv("GRISTMILL_MLFLOW_MIRROR", "off")
        taxi_data.write_csv(tmp / "data", ROWS, 0)
        pipeline_file = _load("taxi_pipeline")
        pipeline = pipeline_file._create_pipeline(
            pipeline_name="chicago_taxi_port", pipeline_root=str(tmp / "root"),
            data_root=str(tmp / "data"), module_file=str(PORT / "taxi_utils.py"),
            serving_model_dir=str(tmp / "serving"),
            metadata_path=str(tmp / "metadata" / "metadata.db"), beam_pipeline_args=[])
        result = pipeline_file.tfx.orchestration.LocalDagRunner().run(pipeline)
    return tmp, result.to_dict()


def _uri(result: dict, node: str, key: str) -> str:
    entry = next(c for c in result["components"] if c["name"] == node)
    return entry["outputs"][key][0]["uri"]


@pytest.mark.e2e
@pytest.mark.slow
def test_taxi_port_runs_and_is_blessed_on_the_transform_made_label(taxi_run):
    tmp, result = taxi_run
    assert result["status"] == "COMPLETE", result
    assert all(c["state"].endswith("COMPLETE") for c in result["components"]), result
    with open(os.path.join(_uri(result, "Evaluator", "evaluation"), "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["label_key"] == "tips_xf" and metrics["classes"] == ["0", "1"]
    overall = metrics["slices"][0]["candidate"]["metrics"]
    assert overall["accuracy"] >= 0.6 and overall["auc"] > 0.7
    assert overall["example_count"] > 0.2 * ROWS
    assert len(metrics["slices"]) > 10  # overall + trip_start_hour slices
    blessing = _uri(result, "Evaluator", "blessing")
    assert os.path.exists(os.path.join(blessing, "BLESSED"))
    assert os.listdir(tmp / "serving")  # pushed


@pytest.mark.e2e
@pytest.mark.slow
def test_evaluator_accuracy_is_the_accuracy_on_the_label_tfx_defines(taxi_run):
    from gristmill.engine.data import read_table
    from gristmill.engine.serving import load_bundle

    _, result = taxi_run
    model = load_bundle(_uri(result, "Trainer", "model"))
    examples = _uri(result, "CsvExampleGen", "examples")
    raw = read_table(sorted(str(p) for p in (
        __import__("pathlib").Path(examples) / "Split-eval").glob("*.parquet")))
    fare = np.nan_to_num(pc.cast(raw.column("fare"), "float64").to_numpy(
        zero_copy_only=False), nan=0.0)
    tips = np.nan_to_num(raw.column("tips").to_numpy(zero_copy_only=False), nan=0.0)
    label = (tips > 0.2 * fare).astype(np.int64)
    predicted = np.asarray(model.predict(raw.drop(["tips"])).column("prediction").to_pylist())
    with open(os.path.join(_uri(result, "Evaluator", "evaluation"), "metrics.json")) as f:
        overall = json.load(f)["slices"][0]["candidate"]["metrics"]
    assert overall["accuracy"] == pytest.approx(float(np.mean(predicted == label)), abs=1e-9)


@pytest.mark.e2e
@pytest.mark.slow
def test_without_preprocessing_function_names_the_label_is_refused_by_name(taxi_run):
    import gristmill.components.tfma as tfma
    from gristmill.components import Evaluator
    from gristmill.components.framework.executor import ExecutionContext
    from gristmill.metadata.errors import DataError
    from gristmill.metadata.standard_artifacts import (
        Examples,
        Model,
        ModelBlessing,
        ModelEvaluation,
    )

    tmp, result = taxi_run
    examples = Examples(_uri(result, "CsvExampleGen", "examples"))
    examples.splits = ["train", "eval"]
    outputs = {"evaluation": [ModelEvaluation(str(tmp / "ev"))],
               "blessing": [ModelBlessing(str(tmp / "bl"))]}
    for arts in outputs.values():
        os.makedirs(arts[0].uri)
    config = tfma.EvalConfig(model_specs=[tfma.ModelSpec(label_key="tips_xf")])
    with pytest.raises(DataError, match="label column 'tips_xf' is not in the eval data"):
        Evaluator.EXECUTOR(ExecutionContext(component_id="Evaluator", tmp_dir=str(tmp))).Do(
            {"examples": [examples], "model": [Model(_uri(result, "Trainer", "model"))]},
            outputs, Evaluator.PARAMETERS(eval_config=config))


PENGUIN = REPO / "pipelines" / "tfx_penguin"


def _penguin_pipeline(tmp, **overrides):
    sys.path.insert(0, str(PENGUIN))
    import penguin_data

    penguin_data.write_data(tmp / "data")
    spec = importlib.util.spec_from_file_location("tfx_port_penguin",
                                                  PENGUIN / "penguin_pipeline_local.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = dict(pipeline_name="penguin_port", pipeline_root=str(tmp / "root"),
                data_root=str(tmp / "data"), module_file=str(PENGUIN / "penguin_utils.py"),
                accuracy_threshold=0.6, serving_model_dir=str(tmp / "serving"),
                metadata_path=str(tmp / "metadata" / "metadata.db"),
                user_provided_schema_path=None, enable_tuning=False,
                enable_bulk_inferrer=True, examplegen_input_config=None,
                examplegen_range_config_date=None, resolver_range_config=None,
                beam_pipeline_args=[], enable_transform_input_cache=True)
    return module, module.create_pipeline(**{**args, **overrides})


@pytest.mark.unit
def test_penguin_tuning_is_refused_naming_the_built_in_tuner(tmp_path):
    from gristmill.metadata.errors import ConfigError

    with pytest.raises(ConfigError, match=r"Tuner\(module_file=...\).*Fix: tuner_fn/KerasTuner "
                                          r"has no PyTorch meaning; use Gristmill's built-in "
                                          r"Tuner: Tuner\(.*search_space="):
        _penguin_pipeline(tmp_path, enable_tuning=True)


@pytest.mark.e2e
@pytest.mark.slow
def test_penguin_port_runs_blesses_pushes_and_infers(tmp_path, monkeypatch):
    monkeypatch.setenv("GRISTMILL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GRISTMILL_MLFLOW_MIRROR", "off")
    module, pipeline = _penguin_pipeline(tmp_path)
    result = module.tfx.orchestration.LocalDagRunner().run(pipeline).to_dict()
    assert result["status"] == "COMPLETE", result
    states = {c["name"]: c["state"] for c in result["components"]}
    assert all(s.endswith("COMPLETE") for s in states.values()), states  # Pusher ran: blessed
    with open(os.path.join(_uri(result, "Evaluator", "evaluation"), "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["label_key"] == "species_xf" and metrics["classes"] == ["0", "1", "2"]
    assert metrics["slices"][0]["candidate"]["metrics"]["accuracy"] >= 0.6
    inferred = next(c for c in result["components"] if c["name"] == "BulkInferrer")
    assert inferred["metrics"]["inferred_rows"] == 18  # every unlabelled row
    assert os.listdir(tmp_path / "serving")


def _doc_run_fn(tmp):
    """The custom PyTorch ``run_fn`` of docs/tfx_migration.md, as a module file."""
    doc = (REPO / "docs" / "tfx_migration.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", doc, re.DOTALL)
    code = next(b for b in blocks if "fn_args.prepare(" in b)
    path = tmp / "doc_run_fn.py"
    path.write_text("from gristmill.components import FnArgs\n\n" + code)
    return path


@pytest.mark.e2e
@pytest.mark.slow
def test_the_guides_pytorch_run_fn_trains_a_servable_model(taxi_run):
    from gristmill.components import Trainer
    from gristmill.components.framework.executor import ExecutionContext
    from gristmill.engine.data import read_table
    from gristmill.engine.serving import load_bundle
    from gristmill.metadata.standard_artifacts import Examples, Model, ModelRun, TransformGraph

    tmp, result = taxi_run
    examples = Examples(_uri(result, "Transform", "transformed_examples"))
    examples.splits = ["train", "eval"]
    examples.set_custom_property("transformed", True)
    outputs = {"model": [Model(str(tmp / "doc_model"))],
               "model_run": [ModelRun(str(tmp / "doc_run"))]}
    for arts in outputs.values():
        os.makedirs(arts[0].uri)
    Trainer.EXECUTOR(ExecutionContext(component_id="Trainer", tmp_dir=str(tmp))).Do(
        {"examples": [examples],
         "transform_graph": [TransformGraph(_uri(result, "Transform", "transform_graph"))]},
        outputs, Trainer.PARAMETERS(module_file=str(_doc_run_fn(tmp))))
    bundle = load_bundle(outputs["model"][0].uri)
    raw = read_table(sorted(str(p) for p in (
        __import__("pathlib").Path(_uri(result, "CsvExampleGen", "examples")) / "Split-eval"
    ).glob("*.parquet")))
    fare = np.nan_to_num(pc.cast(raw.column("fare"), "float64").to_numpy(
        zero_copy_only=False), nan=0.0)
    label = (raw.column("tips").to_numpy(zero_copy_only=False) > 0.2 * fare).astype(np.int64)
    predicted = np.asarray(bundle.predict(raw.drop(["tips"])).column("prediction").to_pylist())
    assert bundle.label_key == "tips_xf" and np.mean(predicted == label) >= 0.6
