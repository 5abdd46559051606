"""Raw-record ONNX (model.onnx): parity with the Python serving path, refusals, inputs.

Each test fits a real transform (the penguin and taxi pipelines' own ``preprocessing_fn``,
or one using the element-wise ops) on real rows, trains briefly, writes the bundle with
``exports=("onnx",)`` and compares ``load_raw_onnx(uri).predict`` with
``load_bundle(uri).predict`` on every row, plus rows with nulls and unseen strings.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import torch
from torch import nn

import gristmill.components.transform_ops as gt
from gristmill.components.transform.analysis import fit_in_memory
from gristmill.components.transform.compiler import raw_type
from gristmill.components.transform.tracing import trace
from gristmill.engine.errors import ConfigError
from gristmill.engine.onnx_raw import PARITY_TOLERANCE
from gristmill.engine.onnx_runtime import load_raw_onnx
from gristmill.engine.serving import load_bundle, read_config, save_bundle
from gristmill.engine.tabular import raw_feature_spec, train_tabular
from gristmill.engine.training import TrainConfig
from gristmill.engine.transform_fn import FittedTransform

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(f"_onnx_test_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def penguins() -> pa.Table:
    return pacsv.read_csv(ROOT / "pipelines/penguin/data/labelled/penguins.csv")


def taxi(rows: int = 1500) -> pa.Table:
    sys.path.insert(0, str(ROOT / "pipelines/taxi"))
    return _module(ROOT / "pipelines/taxi/taxi_data.py").make_chunk(0, rows)


def fit_transform(fn, data: pa.Table) -> FittedTransform:
    traced = trace(fn, {f.name: raw_type(f.type) for f in data.schema})
    plan, vocabs = fit_in_memory(traced, [data])
    return FittedTransform(plan, vocabs)


def train_bundle(tmp_path: Path, data: pa.Table, label: str, transform=None, model="mlp",
                 task="classification", exports=("onnx",)) -> str:
    result = train_tabular(data, None, label, model=model, transform=transform, task=task,
                           config=TrainConfig(epochs=3, batch_size=64), device="cpu")
    uri, transform_uri = str(tmp_path / "model"), None
    if transform is not None:
        transform_uri = str(tmp_path / "transform_graph")
        transform.save(transform_uri)
        raw = [{"name": f.name, "type": f.arrow_type or f.type}
               for f in transform.raw_features if f.name != label]
    else:
        raw = raw_feature_spec(data.schema, [label])
    save_bundle(uri, result.model, result.prepared.encoder, result.prepared.label, raw,
                transform_uri=transform_uri, exports=exports)
    return uri


def with_nulls_and_unseen(data: pa.Table, label: str, seed: int = 1) -> pa.Table:
    """Every feature column nulled on ~30% of rows; strings replaced by unseen values on
    ~20% and by the empty string on a few."""
    rng = np.random.default_rng(seed)
    columns = {}
    for field in data.schema:
        values = data.column(field.name).to_pylist()
        if field.name != label:
            for i in range(len(values)):
                roll = rng.random()
                if roll < 0.3:
                    values[i] = None
                elif pa.types.is_string(field.type) and roll < 0.5:
                    values[i] = f"never seen {i % 7}"
                elif pa.types.is_string(field.type) and roll < 0.55:
                    values[i] = ""
        columns[field.name] = pa.array(values, field.type)
    return pa.table(columns)


def assert_parity(uri: str, table: pa.Table) -> float:
    python = load_bundle(uri).predict(table)
    onnx = load_raw_onnx(uri).predict(table)
    if "probabilities" in python.column_names:
        assert onnx.column("prediction").to_pylist() == python.column("prediction").to_pylist()
        want = np.asarray(python.column("probabilities").to_pylist(), np.float64)
        got = np.asarray(onnx.column("probabilities").to_pylist(), np.float64)
    else:  # standardized units, relative beyond 1 (float32 keeps 7 digits)
        label = load_raw_onnx(uri).label
        want = (python.column("prediction").to_numpy() - label.target_mean) / label.target_std
        got = (onnx.column("prediction").to_numpy() - label.target_mean) / label.target_std
        want, got = want / np.maximum(1.0, np.abs(want)), got / np.maximum(1.0, np.abs(want))
    diff = float(np.max(np.abs(want - got)))
    assert diff <= PARITY_TOLERANCE, diff
    return diff


def test_penguin_model_onnx_takes_raw_columns_and_matches_python(tmp_path):
    module = _module(ROOT / "pipelines/penguin/penguin_module.py")
    data = penguins()
    uri = train_bundle(tmp_path, data, "species", fit_transform(module.preprocessing_fn, data))
    config = read_config(uri)
    assert config["exports"]["onnx"] == "model.onnx", config["export_errors"]
    onnx_model = load_raw_onnx(uri)
    names = [i.name for i in onnx_model.session.get_inputs()]
    assert sorted(names) == sorted(module.NUMERIC_FEATURES + module.CATEGORICAL_FEATURES)
    types = {i.name: i.type for i in onnx_model.session.get_inputs()}
    assert types["island"] == "tensor(string)" and types["body_mass_g"] == "tensor(double)"
    assert_parity(uri, data)
    assert_parity(uri, with_nulls_and_unseen(data, "species"))


def test_taxi_wide_deep_matches_python_on_every_row(tmp_path):
    module = _module(ROOT / "pipelines/taxi/taxi_module.py")
    data = taxi()
    uri = train_bundle(tmp_path, data, "big_tipper",
                       fit_transform(module.preprocessing_fn, data), model="wide_deep")
    assert read_config(uri)["exports"]["onnx"] == "model.onnx"
    assert_parity(uri, data)
    assert_parity(uri, with_nulls_and_unseen(data, "big_tipper"))


def test_builtin_encoder_regression_on_bench_data_matches_python(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    data = _module(ROOT / "bench/datagen.py").make_chunk(0, 1500)
    uri = train_bundle(tmp_path, data, "tips", task="regression")
    assert read_config(uri)["encoder"]["kind"] == "raw"
    assert_parity(uri, data)
    assert_parity(uri, with_nulls_and_unseen(data, "tips"))


def elementwise_fn(inputs):
    x, k, i = inputs["x"], inputs["k"], inputs["i"]
    big = gt.greater(x, 55.0)
    return {
        "log": gt.fill_missing(gt.log1p(gt.absolute(x)), 0.0),
        "clip": gt.clip(x, 40.0, 60.0),
        "mm": gt.scale_by_min_max(x, -1.0, 1.0),
        "bucket": gt.bucketize(x, 5),
        "hot": gt.one_hot(gt.compute_and_apply_vocabulary(k), 4),
        "rule": gt.where(gt.logical_and(big, gt.not_equal(i, 2)), x, gt.multiply(x, -1.0)),
        "flag": gt.is_missing(x),
        "eq": gt.equal(k, "a"),
        "floor": gt.cast(gt.divide(x, 7.0), "int64"),
        "pow": gt.pow(gt.round(gt.divide(x, 10.0)), 2.0),
        "k_fill": gt.compute_and_apply_vocabulary(gt.fill_missing(k, "zz")),
        "i_id": gt.compute_and_apply_vocabulary(i),
        "per_key": gt.scale_to_z_score_per_key(x, k),
        "label": inputs["label"],
    }


def small_table(n: int = 400, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({
        "x": pa.array(rng.normal(50, 10, n), mask=rng.random(n) < 0.1),
        "k": pa.array(rng.choice(["a", "b", "c", ""], n), mask=rng.random(n) < 0.1),
        "i": pa.array(rng.integers(0, 5, n), mask=rng.random(n) < 0.1),
        "label": pa.array(rng.choice(["yes", "no"], n)),
    })


def test_elementwise_ops_match_python(tmp_path):
    data = small_table()
    uri = train_bundle(tmp_path, data, "label", fit_transform(elementwise_fn, data))
    assert read_config(uri)["exports"].get("onnx") == "model.onnx", \
        read_config(uri)["export_errors"]
    assert_parity(uri, data)
    assert_parity(uri, with_nulls_and_unseen(data, "label"))


def test_op_without_onnx_form_is_named_and_python_bundle_keeps_serving(tmp_path):
    def hashed(inputs):
        return {"k_hash": gt.hash_strings(inputs["k"], 8), "x": gt.scale_to_z_score(inputs["x"]),
                "label": inputs["label"]}

    data = small_table()
    uri = train_bundle(tmp_path, data, "label", fit_transform(hashed, data))
    config = read_config(uri)
    assert "onnx" not in config["exports"] and config["raw_onnx"] is None
    assert "'hash_strings'" in config["export_errors"]["onnx"]
    assert not (Path(uri) / "model.onnx").exists()
    assert load_bundle(uri).predict(data).num_rows == data.num_rows
    assert load_bundle(uri, backend="onnx").predict(data).num_rows == data.num_rows
    with pytest.raises(ConfigError, match="hash_strings"):
        load_raw_onnx(uri)


def test_vocabulary_with_hashed_oov_buckets_is_refused(tmp_path):
    def oov(inputs):
        return {"k_id": gt.compute_and_apply_vocabulary(inputs["k"], num_oov_buckets=3),
                "label": inputs["label"]}

    data = small_table()
    uri = train_bundle(tmp_path, data, "label", fit_transform(oov, data))
    assert "num_oov_buckets=3" in read_config(uri)["export_errors"]["onnx"]


class SumOfParts(nn.Module):
    """A user model (not a built-in): goes through torch.onnx.export and onnx merging."""

    def __init__(self, num_numeric: int, cardinalities: list[int], num_outputs: int):
        super().__init__()
        self.linear = nn.Linear(num_numeric, num_outputs)
        self.tables = nn.ModuleList(nn.Embedding(c + 1, num_outputs) for c in cardinalities)

    def forward(self, numeric, categorical):
        out = self.linear(torch.nan_to_num(numeric))
        for i, table in enumerate(self.tables):
            out = out + table(categorical[:, i].clamp(0, table.num_embeddings - 1))
        return out


@pytest.mark.slow
def test_custom_model_is_merged_after_the_transform(tmp_path):
    from gristmill.engine.features import TransformFeatureEncoder
    from gristmill.engine.onnx_raw import python_predictions

    module = _module(ROOT / "pipelines/penguin/penguin_module.py")
    data = penguins()
    transform = fit_transform(module.preprocessing_fn, data)
    encoder = TransformFeatureEncoder(transform, "species")
    net = SumOfParts(len(encoder.numeric_names), encoder.cardinalities, 3)
    torch.manual_seed(0)
    result = train_tabular(data, None, "species", model=net, transform=transform,
                           config=TrainConfig(epochs=2), device="cpu", task="classification")
    transform.save(str(tmp_path / "tg"))
    raw = [{"name": f.name, "type": f.arrow_type or f.type}
           for f in transform.raw_features if f.name != "species"]
    uri = str(tmp_path / "model")
    save_bundle(uri, result.model, result.prepared.encoder, result.prepared.label, raw,
                transform_uri=str(tmp_path / "tg"), exports=("onnx",),
                model_class="tests:SumOfParts", model_kwargs={})
    assert read_config(uri)["exports"]["onnx"] == "model.onnx", read_config(uri)["export_errors"]
    for table in (data, with_nulls_and_unseen(data, "species")):
        want = python_predictions(result.model, result.prepared.encoder,
                                  result.prepared.label, table)
        got = load_raw_onnx(uri).predict(table)
        assert got["prediction"].to_pylist() == want["prediction"].to_pylist()
        diff = np.abs(np.asarray(got["probabilities"].to_pylist()) -
                      np.asarray(want["probabilities"].to_pylist()))
        assert float(diff.max()) <= PARITY_TOLERANCE


def test_graph_that_disagrees_with_python_is_not_written(tmp_path):
    # A stale tensor graph (another model's weights) merged after the transform: the check
    # on generated rows catches it, and no model.onnx is left behind.
    from gristmill.engine.features import TransformFeatureEncoder
    from gristmill.engine.labels import LabelSpec
    from gristmill.engine.models import TabularMLP
    from gristmill.engine.onnx_model import write_builtin_tensor_graph
    from gristmill.engine.onnx_raw import export_raw_onnx
    from gristmill.engine.serving_input import model_raw_inputs

    module = _module(ROOT / "pipelines/penguin/penguin_module.py")
    data = penguins()
    transform = fit_transform(module.preprocessing_fn, data)
    encoder = TransformFeatureEncoder(transform, "species")
    sizes = (len(encoder.numeric_names), encoder.cardinalities, 3)
    torch.manual_seed(1)
    model, other = SumOfParts(*sizes).eval(), TabularMLP(*sizes).eval()
    stale = str(tmp_path / "stale.onnx")
    assert write_builtin_tensor_graph(other, stale)
    label = LabelSpec.fit(data["species"], "species")
    raw = [{"name": f.name, "type": f.arrow_type} for f in transform.raw_features]
    inputs = model_raw_inputs({"raw_features": raw, "label_key": "species"}, encoder)
    with pytest.raises(RuntimeError, match="disagrees with the Python serving path"):
        export_raw_onnx(model, encoder, label, inputs, str(tmp_path), tensor_onnx=stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stale.onnx"]


def test_every_date_part_matches_python_before_and_after_1970(tmp_path):
    from gristmill.engine.onnx_dates import PARTS

    rng = np.random.default_rng(3)
    n = 600
    seconds = rng.integers(-2_500_000_000, 4_200_000_000, n)  # 1890 .. 2103
    seconds[:4] = [0, -1, 951_782_400, 4_107_542_399]  # epoch, 1969-12-31, 2000-02-29, 2100
    data = pa.table({
        "ts": pa.array(seconds, pa.timestamp("s"), mask=rng.random(n) < 0.1),
        "label": pa.array(rng.choice(["a", "b"], n)),
    })

    def dates(inputs):
        out = {part: gt.date_part(inputs["ts"], part) for part in PARTS}
        return {**out, "label": inputs["label"]}

    transform = fit_transform(dates, data)
    uri = train_bundle(tmp_path, data, "label", transform)
    assert read_config(uri)["exports"].get("onnx") == "model.onnx", \
        read_config(uri)["export_errors"]
    assert_parity(uri, data)
    # the date parts themselves, not only the predictions they lead to
    from onnx import TensorProto, helper

    from gristmill.engine.export import onnx_session
    from gristmill.engine.onnx_dates import date_part
    from gristmill.engine.onnx_graph import GraphBuilder, make_model

    b = GraphBuilder()
    outputs = [b.op("Identity", [date_part(b, "s", part)], output=part) for part in PARTS]
    graph = make_model(b, [helper.make_tensor_value_info("s", TensorProto.DOUBLE, ["N"])],
                       [helper.make_tensor_value_info(o, TensorProto.DOUBLE, ["N"])
                        for o in outputs], "dates")
    (tmp_path / "dates.onnx").write_bytes(graph.SerializeToString())
    got = onnx_session(str(tmp_path / "dates.onnx")).run(
        outputs, {"s": np.where(data["ts"].is_null().to_numpy(zero_copy_only=False), np.nan,
                                seconds.astype(np.float64))})
    want = transform.transform(data)
    for part, values in zip(outputs, got, strict=True):
        expected = want[part].to_numpy(zero_copy_only=False)
        np.testing.assert_array_equal(values.astype(np.float32), expected, err_msg=part)
