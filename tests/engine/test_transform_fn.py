"""FittedTransform: applying a hand-written plan, missing values, IO, and the torch twin."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow as pa
import pytest

from gristmill.engine.errors import ConfigError, DataError
from gristmill.engine.transform_fn import PLAN_FORMAT, FittedTransform
from gristmill.engine.transform_kernels import stable_hash

PLAN = {
    "format": PLAN_FORMAT,
    "raw_features": [{"name": "fare", "type": "float", "arrow_type": "double"},
                     {"name": "hour", "type": "int", "arrow_type": "int64"},
                     {"name": "pay", "type": "string", "arrow_type": "string"},
                     {"name": "label", "type": "int", "arrow_type": "int64"}],
    "steps": [
        {"id": "t1", "op": "scale_to_z_score", "args": ["input:fare"],
         "params": {"mean": 10.0, "std": 4.0}, "dtype": "float", "label": "z(fare)"},
        {"id": "t2", "op": "bucketize", "args": ["input:fare"],
         "params": {"boundaries": [5.0, 10.0, 20.0]}, "dtype": "int", "label": "b(fare)"},
        {"id": "t3", "op": "vocabulary", "args": ["input:pay"],
         "params": {"vocabulary": "pay", "num_oov_buckets": 3, "default_value": -1},
         "dtype": "int", "label": "v(pay)"},
        {"id": "t4", "op": "one_hot", "args": ["t3"], "params": {"depth": 5},
         "dtype": "onehot", "label": "oh"},
        {"id": "t5", "op": "unary", "args": ["input:fare"], "params": {"fn": "log1p"},
         "dtype": "float", "label": "log1p(fare)"},
        {"id": "t6", "op": "arith", "args": ["t5", 2.0], "params": {"fn": "mul"},
         "dtype": "float", "label": "2*log1p"},
        {"id": "t7", "op": "fill_missing", "args": ["input:fare"], "params": {"value": -1.0},
         "dtype": "float", "label": "fill"},
        {"id": "t8", "op": "hash_strings", "args": ["input:pay"], "params": {"hash_buckets": 7},
         "dtype": "int", "label": "h"},
        {"id": "t9", "op": "cross", "args": ["input:pay", "input:hour"],
         "params": {"hash_buckets": 50}, "dtype": "int", "label": "x"},
        {"id": "t10", "op": "clip", "args": ["t1"], "params": {"min": -1.0, "max": None},
         "dtype": "float", "label": "clip"},
        {"id": "t11", "op": "scale_by_min_max", "args": ["input:hour"],
         "params": {"min": 0.0, "max": 23.0, "output_min": -1.0, "output_max": 1.0},
         "dtype": "float", "label": "mm"},
    ],
    "outputs": [
        {"name": "fare_z", "ref": "t1", "dtype": "float32", "kind": "numeric"},
        {"name": "fare_b", "ref": "t2", "dtype": "int64", "kind": "categorical",
         "vocab_size": 5},
        {"name": "pay_id", "ref": "t3", "dtype": "int64", "kind": "categorical",
         "vocab_size": 5},
        {"name": "pay_hot", "ref": "t4", "dtype": "float32", "kind": "numeric", "shape": [5]},
        {"name": "fare_log2", "ref": "t6", "dtype": "float32", "kind": "numeric"},
        {"name": "fare_filled", "ref": "t7", "dtype": "float32", "kind": "numeric"},
        {"name": "pay_hash", "ref": "t8", "dtype": "int64", "kind": "categorical",
         "vocab_size": 7},
        {"name": "pay_x_hour", "ref": "t9", "dtype": "int64", "kind": "categorical",
         "vocab_size": 50},
        {"name": "fare_z_clip", "ref": "t10", "dtype": "float32", "kind": "numeric"},
        {"name": "hour_mm", "ref": "t11", "dtype": "float32", "kind": "numeric"},
        {"name": "label", "ref": "input:label", "dtype": "int64", "kind": "passthrough"},
    ],
    "vocabularies": {"pay": {"file": "vocabularies/pay.txt", "size": 2}},
}


def raw() -> pa.Table:
    return pa.table({
        "fare": pa.array([14.0, None, float("nan"), 5.0, -3.0, 1e12]),
        "hour": pa.array([0, 23, None, 5, 12, 7]),
        "pay": pa.array(["card", "cash", None, "bitcoin", "card", ""]),
        "label": pa.array([1, 0, 1, 0, 1, 0]),
        "unused": pa.array(["x"] * 6),
    })


@pytest.fixture
def ft() -> FittedTransform:
    return FittedTransform(PLAN, {"pay": ["card", "cash"]})


@pytest.mark.unit
def test_numeric_ops_and_missing_values(ft):
    out = ft.transform(raw())
    assert out.column_names == [o["name"] for o in PLAN["outputs"]]
    assert out.column("fare_z").to_pylist()[:2] == [1.0, None]
    assert out.column("fare_z").null_count == 2  # null and NaN are both missing
    assert out.column("fare_z").type == pa.float32()
    assert out.column("fare_b").to_pylist() == [2, 4, 4, 1, 0, 3]  # missing -> extra bucket
    assert out.column("fare_filled").to_pylist()[:3] == [14.0, -1.0, -1.0]
    assert out.column("fare_log2").to_pylist()[4] is None  # log1p(-3) is undefined
    assert out.column("fare_z_clip").to_pylist()[4] == -1.0
    assert out.column("hour_mm").to_pylist()[:2] == [-1.0, 1.0]
    assert out.column("label").to_pylist() == [1, 0, 1, 0, 1, 0]


@pytest.mark.unit
def test_vocabulary_oov_and_hashes_are_stable(ft):
    out = ft.transform(raw())
    ids = out.column("pay_id").to_pylist()
    assert ids[0] == 0 and ids[1] == 1 and ids[4] == 0
    assert ids[2] == 2  # missing -> first OOV bucket
    expected = 2 + int.from_bytes(hashlib.blake2b(b"bitcoin", digest_size=8).digest(),
                                  "little") % 3
    assert ids[3] == expected
    assert out.column("pay_hot").to_pylist()[1] == [0.0, 1.0, 0.0, 0.0, 0.0]
    assert out.column("pay_hash").to_pylist()[0] == stable_hash("card") % 7
    assert out.column("pay_hash").to_pylist()[2] == stable_hash("") % 7  # missing ~ ""
    assert out.column("pay_x_hour").to_pylist()[0] == stable_hash("card\x1f0") % 50


@pytest.mark.unit
def test_missing_raw_columns_omit_only_their_outputs(ft):
    out = ft.transform(raw().drop(["label", "pay"]))
    assert "label" not in out.column_names and "pay_id" not in out.column_names
    assert "fare_z" in out.column_names and out.num_rows == 6
    assert ft.transform(pa.table({"other": [1, 2]})).num_columns == 0


@pytest.mark.unit
def test_pandas_batches_and_int_for_float_columns(ft):
    import pandas as pd

    frame = pd.DataFrame({"fare": [14, 6], "hour": [1.0, 2.0], "pay": ["card", "zzz"]})
    out = ft.transform(frame)
    assert out.column("fare_z").to_pylist() == [1.0, -1.0]


@pytest.mark.unit
def test_wrong_raw_type_is_a_data_error(ft):
    with pytest.raises(DataError, match="raw column 'fare' expected a numeric .* got string"):
        ft.transform(pa.table({"fare": ["1.0"]}))


@pytest.mark.unit
def test_save_and_load_round_trip(tmp_path, ft):
    vocab = ["card", "", "naïve", "tab\there"]
    plan = json.loads(json.dumps(PLAN))
    plan["vocabularies"]["pay"]["size"] = len(vocab)
    FittedTransform(plan, {"pay": vocab}).save(tmp_path)
    loaded = FittedTransform.load(tmp_path)
    assert loaded.vocabularies["pay"] == vocab
    assert loaded.transform(raw()).column("pay_id").to_pylist()[5] == 1  # "" is a token
    assert [f.name for f in loaded.output_features] == [o["name"] for o in PLAN["outputs"]]
    assert loaded.output_features[1].raw_inputs == ("fare",)
    with pytest.raises(DataError, match="does not exist"):
        FittedTransform.load(tmp_path / "nope")


@pytest.mark.unit
def test_unknown_plan_format_is_refused():
    with pytest.raises(ConfigError, match="format"):
        FittedTransform({**PLAN, "format": "other/9"})


@pytest.mark.integration
def test_torch_module_matches_arrow_path(ft):
    import torch

    from gristmill.engine.transform_torch import (
        build_torch_module,
        module_inputs,
        transform_with_torch,
    )

    table = raw()
    arrow = ft.transform(table)
    via_torch = transform_with_torch(ft, table)
    assert via_torch.column_names == arrow.column_names
    for name in arrow.column_names:
        a, b = arrow.column(name).combine_chunks(), via_torch.column(name).combine_chunks()
        assert a.type == b.type, name
        if a.type == pa.float32():
            np.testing.assert_allclose(a.to_numpy(zero_copy_only=False),
                                       b.to_numpy(zero_copy_only=False), rtol=1e-6, err_msg=name)
        else:
            assert a.equals(b), name
    module = build_torch_module(ft)
    assert set(module.input_names) == {"fare", "hour", "t3"}  # vocab ids come from Arrow
    inputs = module_inputs(ft, module, table)
    exported = torch.export.export(module, (inputs,))
    got = exported.module()(inputs)
    np.testing.assert_array_equal(got["fare_b"].numpy(), arrow.column("fare_b").to_numpy())
