"""Every element-wise (``tf.*``) and string/date op: Beam == Arrow serving == torch module,
on data with nulls, NaN and strings, and the values are the ones NumPy/Python give."""

from __future__ import annotations

import datetime
import os
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.components import Transform
from gristmill.components.framework.executor import ExecutionContext
from gristmill.engine.transform_fn import FittedTransform
from gristmill.metadata.standard_artifacts import Examples, TransformCache, TransformGraph

pytestmark = pytest.mark.integration

MODULE = '''
import gristmill.components.transform_ops as tft


def preprocessing_fn(inputs):
    fare, tips = inputs["fare"], inputs["tips"]
    pay, ts = inputs["payment_type"], inputs["trip_start_timestamp"]
    filled_fare, filled_tips = tft.fill_missing(fare), tft.fill_missing(tips)
    return {
        "gt": tips > fare * 0.2, "ge": fare >= 10, "lt": fare < tips, "le": fare <= 10.5,
        "eq": inputs["hour"] == 3, "ne": inputs["hour"] != 3,
        "and": (fare > 9) & (tips > 1), "or": (fare > 12) | (tips < 0.5), "not": ~(fare > 9),
        "where": tft.where(fare > 10, fare, -1.0),
        "above_mean": tft.where(fare > tft.mean(fare), 1.0, tft.mean(fare) - fare),
        "label": tft.where(tft.is_nan(filled_fare), tft.cast(tft.zeros_like(filled_fare),
                           "int64"), tft.cast(tft.greater(filled_tips,
                           tft.multiply(filled_fare, 0.2)), "int64")),
        "as_int": tft.cast(fare, "int64"), "as_float": tft.cast(inputs["hour"], "float32"),
        "hour_str": tft.cast(inputs["hour"], "string"),
        "fare_int_id": tft.compute_and_apply_vocabulary(tft.cast(tft.cast(fare, "int64"),
                                                                 "string")),
        "fare_missing": tft.is_missing(fare), "pay_missing": tft.is_missing(pay),
        "ones": tft.ones_like(fare), "pow": tft.pow(fare, 2), "sq": fare ** 0.5,
        "round": tft.round(fare), "floor": tft.floor(fare), "ceil": tft.ceil(fare),
        "abs": tft.abs(fare - 10), "fill0": filled_fare, "fill_str": tft.fill_missing(pay),
        "lower": tft.lower(pay), "upper": tft.upper(pay), "strip": tft.strip(pay),
        "regex": tft.regex_replace(pay, "[aeiou]", "_"), "substr": tft.substr(pay, 1, 3),
        "length": tft.length(pay), "is_cash": tft.strip(pay) == "Cash",
        "pay_id": tft.compute_and_apply_vocabulary(tft.lower(tft.strip(tft.fill_missing(pay)))),
        "year": tft.date_part(ts, "year"), "month": tft.date_part(ts, "month"),
        "day": tft.date_part(ts, "day"), "hour_of_ts": tft.date_part(ts, "hour"),
        "minute": tft.date_part(ts, "minute"), "dow": tft.date_part(ts, "day_of_week"),
        "doy": tft.date_part(ts, "day_of_year"),
        "hour_z": tft.scale_to_z_score(tft.date_part(ts, "hour")),
        "len_z": tft.scale_to_z_score(tft.length(tft.fill_missing(pay))),
    }
'''


def raw_table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    fare = rng.normal(10, 3, rows)
    fare[rng.random(rows) < 0.05] = np.nan  # NaN, not null: missing too
    pay = rng.choice([" Cash", "Credit Card ", "Mobile", "Dispute"], rows).astype(object)
    pay[rng.random(rows) < 0.1] = None
    return pa.table({
        "fare": pa.array(fare, mask=rng.random(rows) < 0.05),
        "tips": pa.array(np.round(rng.random(rows) * 4, 2)),
        "hour": pa.array(rng.integers(0, 24, rows), mask=rng.random(rows) < 0.05),
        "payment_type": pa.array(pay.tolist(), pa.string()),
        "trip_start_timestamp": pa.array(rng.integers(1_300_000_000, 1_700_000_000, rows),
                                         mask=rng.random(rows) < 0.05),
    })


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tfx_ops")
    (tmp / "module.py").write_text(textwrap.dedent(MODULE))
    examples = Examples(str(tmp / "examples"))
    splits = {"train": raw_table(3000, 1), "eval": raw_table(1000, 2)}
    for split, table in splits.items():
        os.makedirs(examples.split_uri(split))
        pq.write_table(table, f"{examples.split_uri(split)}/part-00000.parquet",
                       row_group_size=700)
    examples.splits = list(splits)
    examples.set_property("row_counts", {s: t.num_rows for s, t in splits.items()})
    out = {"transform_graph": [TransformGraph(str(tmp / "graph"))],
           "transformed_examples": [Examples(str(tmp / "transformed"))],
           "updated_analyzer_cache": [TransformCache(str(tmp / "cache"))]}
    for arts in out.values():
        os.makedirs(arts[0].uri)
    Transform.EXECUTOR(ExecutionContext(component_id="Transform", tmp_dir=str(tmp))).Do(
        {"examples": [examples]}, out, Transform.PARAMETERS(module_file=str(tmp / "module.py")))
    ft = FittedTransform.load(out["transform_graph"][0].uri)
    beam = {s: pq.read_table(out["transformed_examples"][0].split_uri(s)) for s in splits}
    return ft, splits, beam


def _same(a: pa.Array, b: pa.Array, name: str) -> None:
    assert a.type == b.type, name
    if pa.types.is_floating(a.type):
        x, y = a.to_numpy(zero_copy_only=False), b.to_numpy(zero_copy_only=False)
        assert np.array_equal(np.isnan(x), np.isnan(y)), name
        np.testing.assert_allclose(x, y, rtol=1e-6, equal_nan=True, err_msg=name)
    else:
        assert a.equals(b), name


@pytest.mark.parametrize("split", ["train", "eval"])
def test_beam_serving_and_torch_agree_on_every_op(fitted, split):
    from gristmill.engine.transform_torch import transform_with_torch

    ft, raw, beam = fitted
    serving, torch_path = ft.transform(raw[split]), transform_with_torch(ft, raw[split])
    assert beam[split].column_names == serving.column_names == torch_path.column_names
    for name in serving.column_names:
        b = beam[split].column(name).combine_chunks()
        _same(b, serving.column(name).combine_chunks(), name)
        _same(b, torch_path.column(name).combine_chunks(), name)


def _col(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist()


def test_values_match_python(fitted):
    ft, raw, _ = fitted
    table = raw["eval"]
    out = ft.transform(table)
    fares = [None if f is None or f != f else f for f in _col(table, "fare")]
    tips, pays, stamps = _col(table, "tips"), _col(table, "payment_type"), \
        _col(table, "trip_start_timestamp")
    for i in range(table.num_rows):
        f, t, p, ts = fares[i], tips[i], pays[i], stamps[i]
        row = {n: out.column(n)[i].as_py() for n in out.column_names}
        assert row["gt"] == (None if f is None else float(t > 0.2 * f))
        assert row["label"] == (int(t > 0.2 * f) if f is not None else int(t > 0))
        assert row["as_int"] == (None if f is None else int(f))
        assert row["hour_str"] == (None if table.column("hour")[i].as_py() is None
                                   else str(table.column("hour")[i].as_py()))
        assert row["where"] == (None if f is None else pytest.approx(f if f > 10 else -1.0))
        assert row["fare_missing"] == float(f is None) and row["ones"] == 1.0
        assert row["pay_missing"] == float(p is None)
        assert row["round"] == (None if f is None else float(np.round(f)))
        assert row["lower"] == (None if p is None else p.lower())
        assert row["strip"] == (None if p is None else p.strip())
        assert row["regex"] == (None if p is None else
                                "".join("_" if c in "aeiou" else c for c in p))
        assert row["substr"] == (None if p is None else p[1:4])
        assert row["length"] == (None if p is None else float(len(p)))
        assert row["is_cash"] == (None if p is None else float(p.strip() == "Cash"))
        assert row["fill_str"] == ("" if p is None else p)
        if ts is None:
            assert row["year"] is None and row["dow"] is None
        else:
            d = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
            assert (row["year"], row["month"], row["day"], row["hour_of_ts"], row["minute"],
                    row["dow"], row["doy"]) == (d.year, d.month, d.day, d.hour, d.minute,
                                                d.weekday(), d.timetuple().tm_yday)


def test_output_kinds(fitted):
    ft, _, _ = fitted
    feats = {f.name: f for f in ft.output_features}
    assert (feats["label"].dtype, feats["label"].kind) == ("int64", "numeric")
    assert (feats["gt"].dtype, feats["lower"].dtype) == ("float32", "string")
    assert feats["pay_id"].kind == "categorical"
    assert feats["pay_id"].vocab_size == 5 + 1  # 4 payment types, '', OOV
