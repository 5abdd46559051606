"""Dates and timestamps typed INT by the schema are transformed as numbers (gauntlet found 5).

Dates are days since 1970-01-01 and timestamps seconds since the epoch, whatever their storage
unit, on the Arrow path, the torch twin and a pandas batch alike.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from gristmill.engine.transform_fn import PLAN_FORMAT, FittedTransform

PLAN = {
    "format": PLAN_FORMAT,
    "raw_features": [{"name": "day", "type": "int", "arrow_type": "date32[day]"},
                     {"name": "when", "type": "int", "arrow_type": "timestamp[ms, tz=UTC]"}],
    "steps": [
        {"id": "t1", "op": "scale_to_z_score", "args": ["input:day"],
         "params": {"mean": 18262.0, "std": 2.0}, "dtype": "float", "label": "z(day)"},
        {"id": "t2", "op": "scale_to_z_score", "args": ["input:when"],
         "params": {"mean": 1577836800.0, "std": 60.0}, "dtype": "float", "label": "z(when)"},
    ],
    "outputs": [
        {"name": "day_z", "ref": "t1", "dtype": "float32", "kind": "numeric"},
        {"name": "when_z", "ref": "t2", "dtype": "float32", "kind": "numeric"},
        {"name": "day", "ref": "input:day", "dtype": "int64", "kind": "passthrough"},
    ],
    "vocabularies": {},
}
DAYS = [dt.date(2020, 1, 1), dt.date(2020, 1, 3), None]  # 18262 days since the epoch
TIMES = [dt.datetime(2020, 1, 1, tzinfo=dt.UTC), dt.datetime(2020, 1, 1, 0, 2, tzinfo=dt.UTC),
         None]  # 1577836800 s since the epoch


def _table(ts_unit: str, date_type: pa.DataType = pa.date32()) -> pa.Table:
    return pa.table({"day": pa.array(DAYS, date_type),
                     "when": pa.array(TIMES, pa.timestamp(ts_unit, tz="UTC"))})


@pytest.mark.unit
def test_dates_are_days_and_timestamps_seconds_since_the_epoch():
    out = FittedTransform(PLAN, {}).transform(_table("ms"))
    assert out.column("day_z").to_pylist()[:2] == [0.0, 1.0]
    missing = out.column("day_z")[2].as_py()
    assert missing is None or np.isnan(missing)
    assert out.column("when_z").to_pylist()[:2] == [0.0, 2.0]
    assert out.column("day").to_pylist() == [18262, 18264, None]


@pytest.mark.unit
@pytest.mark.parametrize("unit", ["s", "us", "ns"])
def test_the_storage_unit_does_not_change_the_numbers(unit):
    ft = FittedTransform(PLAN, {})
    reference = ft.transform(_table("ms"))
    assert ft.transform(_table(unit, pa.date64())).equals(reference)


@pytest.mark.unit
def test_a_pandas_batch_with_datetimes_gives_the_same_numbers():
    ft = FittedTransform(PLAN, {})
    frame = _table("ms").to_pandas()  # datetime64[ns, UTC]
    got = ft.transform(frame)
    want = ft.transform(_table("ms"))
    for name in ("day_z", "when_z"):
        np.testing.assert_array_equal(got.column(name).to_numpy(zero_copy_only=False),
                                      want.column(name).to_numpy(zero_copy_only=False))


@pytest.mark.integration
def test_the_torch_twin_matches_the_arrow_path():
    from gristmill.engine.transform_torch import transform_with_torch

    ft = FittedTransform(PLAN, {})
    arrow, via_torch = ft.transform(_table("ms")), transform_with_torch(ft, _table("ns"))
    for name in ("day_z", "when_z"):
        np.testing.assert_allclose(via_torch.column(name).to_numpy(zero_copy_only=False),
                                   arrow.column(name).to_numpy(zero_copy_only=False))
