"""Serving bundles: exported predictions on raw records equal the in-process model's."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pytest
import torch

from gristmill.engine.errors import ConfigError
from gristmill.engine.features import stack_columns
from gristmill.engine.serving import load_bundle, save_bundle
from gristmill.engine.tabular import raw_feature_spec, train_tabular
from gristmill.engine.training import TrainConfig

pytestmark = pytest.mark.integration


def records(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.integers(0, 10, n)
    color = rng.choice(["red", "green", "blue"], n)
    label = np.where(x1 + (color == "red") * 1.5 > 0.5, "yes", "no")
    return pa.table({"x1": x1, "x2": x2, "color": color, "label": label})


def in_process(result, table: pa.Table) -> np.ndarray:
    numeric, categorical = stack_columns(result.prepared.encoder.encode(table))
    model = result.model.to("cpu").eval()
    with torch.no_grad():
        out = model(torch.from_numpy(numeric), torch.from_numpy(categorical)).numpy()
    return out


@pytest.fixture(scope="module")
def classifier_bundle(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("bundle"))
    table = records(600)
    result = train_tabular(table, None, "label", model="wide_deep",
                           config=TrainConfig(epochs=3, batch_size=64))
    save_bundle(directory, result.model, result.prepared.encoder, result.prepared.label,
                raw_feature_spec(table.schema, ["label"]))
    return directory, result


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_bundle_predictions_equal_the_in_process_model(classifier_bundle, backend):
    directory, result = classifier_bundle
    raw = records(50, seed=3).drop_columns(["label"])
    bundle = load_bundle(directory, backend=backend)
    got = bundle.predict(raw)
    logits = in_process(result, raw)
    expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    probs = np.array(got["probabilities"].to_pylist())
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    assert got["prediction"].type == pa.string()
    assert got["prediction"].to_pylist() == [bundle.classes[i] for i in expected.argmax(1)]


_PREDICT_AND_REPORT_TORCH = """
import json, sys
import pyarrow as pa
from gristmill.engine.serving import load_bundle
bundle = load_bundle(sys.argv[1], backend=sys.argv[2])
got = bundle.predict(pa.table({"x1": [0.3, -1.0], "x2": [1, 4], "color": ["red", "blue"]}))
print(json.dumps([bundle.backend, got["prediction"].to_pylist(), "torch" in sys.modules]))
"""


def test_an_onnx_bundle_loads_and_predicts_without_importing_torch(classifier_bundle):
    import subprocess
    import sys

    directory, _ = classifier_bundle
    runs = {backend: subprocess.run([sys.executable, "-c", _PREDICT_AND_REPORT_TORCH, directory,
                                     backend], capture_output=True, text=True, timeout=120)
            for backend in ("auto", "torch")}
    assert all(r.returncode == 0 for r in runs.values()), [r.stderr[-1500:] for r in runs.values()]
    auto, torch_backend = (json.loads(runs[b].stdout.strip().splitlines()[-1])
                           for b in ("auto", "torch"))
    assert auto[0] == "onnx" and auto[2] is False  # the InfraValidator's serving process
    assert torch_backend[0] == "torch" and torch_backend[2] is True
    assert auto[1] == torch_backend[1]  # same predictions either way


def test_bundle_layout_and_config(classifier_bundle):
    directory, _ = classifier_bundle
    files = set(os.listdir(directory))
    assert {"bundle.json", "weights.safetensors", "model.onnx"} <= files
    assert "program.pt2" not in files  # torch.export is opt-in: exports=("program", "onnx")
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".pt"))]
    with open(os.path.join(directory, "bundle.json")) as f:
        config = json.load(f)
    assert config["format_version"] == 1 and config["task"] == "classification"
    assert config["label_key"] == "label" and config["classes"] == ["no", "yes"]
    assert [f["name"] for f in config["raw_features"]] == ["x1", "x2", "color"]
    assert config["model"]["class"] == "gristmill.engine.models:WideDeep"
    assert config["transformed_features"] == {"numeric": ["x1", "x2"], "categorical": ["color"]}
    bundle = load_bundle(directory)
    assert (bundle.task, bundle.label_key, bundle.classes) == ("classification", "label",
                                                               ["no", "yes"])


def test_records_pandas_unseen_and_missing_values(classifier_bundle):
    directory, _ = classifier_bundle
    bundle = load_bundle(directory, backend="onnx")
    rows = [{"x1": 0.3, "x2": 4, "color": "red"}, {"x1": None, "x2": 1, "color": "purple"},
            {"x1": -1.0, "color": None}]
    fast = bundle.predict_records(rows)
    table = bundle.predict(pa.Table.from_pylist(rows))
    assert [r["prediction"] for r in fast] == table["prediction"].to_pylist()
    np.testing.assert_allclose([r["probabilities"] for r in fast],
                               table["probabilities"].to_pylist(), atol=1e-6)
    frame = records(5, seed=9).to_pandas()
    assert bundle.predict(frame).num_rows == 5
    assert bundle.predict(records(0)).num_rows == 0


def test_regression_bundle_predicts_in_label_units(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    table = pa.table({"x": x, "y": 50.0 + 10.0 * x})
    result = train_tabular(table, None, "y", config=TrainConfig(epochs=20, batch_size=32,
                                                               learning_rate=1e-2))
    save_bundle(str(tmp_path), result.model, result.prepared.encoder, result.prepared.label,
                raw_feature_spec(table.schema, ["y"]), exports=("onnx",))
    for backend in ("torch", "onnx"):
        got = load_bundle(str(tmp_path), backend=backend).predict(table.slice(0, 20))
        assert got.schema.field("prediction").type == pa.float64()
        expected = in_process(result, table.slice(0, 20))[:, 0] * result.prepared.label.target_std \
            + result.prepared.label.target_mean
        np.testing.assert_allclose(got["prediction"].to_numpy(), expected, atol=1e-4)
        assert np.abs(got["prediction"].to_numpy() - table["y"].to_numpy()[:20]).max() < 2.0


def test_load_bundle_errors(tmp_path, classifier_bundle):
    with pytest.raises(FileNotFoundError, match="not a Gristmill serving bundle"):
        load_bundle(str(tmp_path))
    with pytest.raises(ValueError, match="backend must be one of"):
        load_bundle(classifier_bundle[0], backend="tensorrt")


def _plan_dir(root) -> str:
    """A hand-written fitted transform: z-scored x1, a color vocabulary, label passthrough."""
    from gristmill.engine.transform_fn import FittedTransform

    plan = {"format": "gristmill.transform_fn/1",
            "raw_features": [{"name": "x1", "type": "float", "arrow_type": "double"},
                             {"name": "color", "type": "string", "arrow_type": "string"},
                             {"name": "label", "type": "string", "arrow_type": "string"}],
            "steps": [{"id": "t1", "op": "scale_to_z_score", "args": ["input:x1"],
                       "params": {"mean": 0.2, "std": 1.1}, "dtype": "float"},
                      {"id": "t2", "op": "vocabulary", "args": ["input:color"],
                       "params": {"vocabulary": "color", "num_oov_buckets": 1}, "dtype": "int"}],
            "outputs": [{"name": "x1_z", "ref": "t1", "dtype": "float32", "kind": "numeric"},
                        {"name": "color_id", "ref": "t2", "dtype": "int64",
                         "kind": "categorical", "vocab_size": 4},
                        {"name": "label", "ref": "input:label", "dtype": "string",
                         "kind": "passthrough"}],
            "vocabularies": {"color": {"file": "vocabularies/color.txt", "size": 3}}}
    directory = str(root / "transform_graph")
    FittedTransform(plan, {"color": ["red", "blue", "green"]}).save(directory)
    return directory


def test_bundle_with_a_fitted_transform(tmp_path):
    from gristmill.engine.transform_fn import FittedTransform

    graph = _plan_dir(tmp_path)
    transform = FittedTransform.load(graph)
    table = records(400)
    result = train_tabular(table, None, "label", transform=transform,
                           config=TrainConfig(epochs=8, batch_size=32, learning_rate=1e-2))
    assert result.prepared.encoder.numeric_names == ["x1_z"]
    assert result.prepared.encoder.categorical_names == ["color_id"]
    bundle_dir = str(tmp_path / "bundle")
    save_bundle(bundle_dir, result.model, result.prepared.encoder, result.prepared.label,
                [{"name": "x1", "type": "double"}, {"name": "color", "type": "string"}],
                transform_uri=graph)
    assert os.path.exists(os.path.join(bundle_dir, "transform", "transform_fn.json"))
    raw = records(30, seed=5).drop_columns(["label", "x2"])
    logits = in_process(result, raw)
    for backend in ("torch", "onnx"):
        got = load_bundle(bundle_dir, backend=backend).predict(raw)
        probs = np.array(got["probabilities"].to_pylist())
        np.testing.assert_allclose(probs, np.exp(logits) / np.exp(logits).sum(1, keepdims=True),
                                   atol=1e-5)
    accuracy = np.mean(np.array(got["prediction"].to_pylist()) ==
                       records(30, seed=5)["label"].to_numpy())
    assert accuracy >= 0.9


def test_program_backend_is_refused_because_it_can_unpickle(classifier_bundle, tmp_path):
    _, result = classifier_bundle
    directory = str(tmp_path / "with_program")
    save_bundle(directory, result.model, result.prepared.encoder, result.prepared.label,
                raw_feature_spec(records(10).schema, ["label"]), exports=("program", "onnx"))
    assert os.path.exists(os.path.join(directory, "program.pt2"))  # exported when asked
    with pytest.raises(ConfigError, match="torch.export.load can unpickle"):
        load_bundle(directory, backend="program")


def test_an_unlisted_model_class_is_refused_before_its_module_is_imported(tmp_path,
                                                                          classifier_bundle,
                                                                          monkeypatch):
    import shutil
    import sys

    marker = tmp_path / "imported"
    (tmp_path / "planted_model.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    tampered = tmp_path / "bundle"
    shutil.copytree(classifier_bundle[0], tampered)
    with open(tampered / "bundle.json") as f:
        config = json.load(f)
    config["model"]["class"] = "planted_model:Thing"
    (tampered / "bundle.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"names model class 'planted_model:Thing', which is "
                                          r"not on the allow-list .*nothing was imported"):
        load_bundle(str(tampered))
    assert not marker.exists() and "planted_model" not in sys.modules
    # ONNX serving imports no class at all.
    assert load_bundle(str(tampered), backend="onnx").predict(
        records(3).drop_columns(["label"])).num_rows == 3
    # Trusted explicitly (argument or environment), the class is imported, then still
    # refused because it is not a torch module.
    monkeypatch.setenv("GRISTMILL_TRUSTED_MODEL_CLASSES", "other:X, planted_model:Thing")
    with pytest.raises(ValueError, match="not a torch.nn.Module class"):
        load_bundle(str(tampered))
    assert marker.exists()
    sys.modules.pop("planted_model", None)


def test_the_allow_list_holds_every_builtin_model():
    from gristmill.engine import models
    from gristmill.engine.serving import BUILTIN_MODEL_CLASSES

    assert sorted(BUILTIN_MODEL_CLASSES) == sorted(
        f"{c.__module__}:{c.__qualname__}" for c in models.BUILTIN_MODELS.values())


def test_a_transform_bundle_refuses_transformed_columns_and_names_the_raw_ones(tmp_path):
    from gristmill.engine.errors import DataError
    from gristmill.engine.transform_fn import FittedTransform

    graph = _plan_dir(tmp_path)
    table = records(200)
    result = train_tabular(table, None, "label", transform=FittedTransform.load(graph),
                           config=TrainConfig(epochs=1, batch_size=64))
    bundle_dir = str(tmp_path / "bundle")
    save_bundle(bundle_dir, result.model, result.prepared.encoder, result.prepared.label,
                [{"name": "x1", "type": "double"}, {"name": "color", "type": "string"}],
                transform_uri=graph, exports=())
    bundle = load_bundle(bundle_dir)
    assert bundle.required_columns == ["x1", "color"]
    transformed = FittedTransform.load(graph).transform(table)  # x1_z, color_id, label
    with pytest.raises(DataError, match=r"raw columns 'x1', 'color' are missing; the model "
                                        r"reads \['x1', 'color'\]"):
        bundle.predict(transformed)
    with pytest.raises(DataError, match=r"raw column 'color' is missing"):
        bundle.predict(table.drop_columns(["color"]))
