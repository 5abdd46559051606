"""Transform on date/timestamp columns (gauntlet found 5): analysed and applied as numbers.

Dates are days since 1970-01-01 and timestamps seconds since the epoch, on the Beam path and
the serving path alike; previously the analysis refused the column with a fix the user could
not follow ("cast 'date' to a number").
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.engine.transform_fn import FittedTransform
from tests.components.transform.test_transform import run, write_examples

pytestmark = pytest.mark.integration


def _table(n: int) -> pa.Table:
    start = dt.date(2020, 1, 1)
    days = [start + dt.timedelta(days=3 * i) for i in range(n)]
    times = [dt.datetime(2021, 5, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=7 * i)
             for i in range(n)]
    return pa.table({"date": pa.array(days, pa.date32()),
                     "when": pa.array(times, pa.timestamp("ms", tz="UTC")),
                     "y": pa.array(np.arange(n, dtype=np.float64))})


def test_dates_and_timestamps_are_analysed_and_applied_as_numbers(tmp_path):
    table = _table(40)
    examples = write_examples(str(tmp_path / "ex"), {"train": table}, files=1)

    def fn(inputs):
        import gristmill.components.transform_ops as gt
        return {"date_z": gt.scale_to_z_score(inputs["date"]),
                "when_z": gt.scale_to_z_score(inputs["when"]), "y": inputs["y"],
                "when_s": inputs["when"], "date_d": inputs["date"]}

    out = run(tmp_path / "r", {"examples": [examples]}, preprocessing_fn=fn)
    graph = out["transform_graph"][0]
    ft = FittedTransform.load(graph.uri)
    means = [s["params"]["mean"] for s in ft.steps if s["op"] == "scale_to_z_score"]
    days = np.array([(d - dt.date(1970, 1, 1)).days for d in table.column("date").to_pylist()])
    seconds = np.array([t.timestamp() for t in table.column("when").to_pylist()])
    assert means == [pytest.approx(days.mean()), pytest.approx(seconds.mean())]
    beam = pq.read_table(out["transformed_examples"][0].split_uri("train"))
    serving = ft.transform(table.to_pandas())  # datetime64[ns] at serving: same numbers
    for name in ("date_z", "when_z"):
        np.testing.assert_allclose(beam.column(name).to_numpy(), serving.column(name).to_numpy(),
                                   rtol=1e-6)
        assert abs(float(np.mean(beam.column(name).to_numpy()))) < 1e-5
    assert beam.column("when_s").to_pylist() == seconds.tolist()
    assert beam.column("date_d").to_pylist() == days.tolist()
