"""Statistics of date columns (CSV dates are date32): found by the gauntlet."""

from __future__ import annotations

import datetime

import pyarrow as pa
import pytest

from gristmill.components.beam.statistics.combine import StatsCombineFn, StatsConfig
from gristmill.components.beam.statistics.output import dataset_statistics

pytestmark = pytest.mark.unit


def test_a_date32_column_is_measured_in_days_since_the_epoch():
    # pyarrow refuses date32 -> int64 casts, so StatisticsGen failed on any CSV with dates.
    dates = [datetime.date(1970, 1, 11), None, datetime.date(1970, 1, 31)]
    table = pa.table({"day": pa.array(dates, pa.date32()), "x": [1.0, 2.0, 3.0]})
    fn = StatsCombineFn(StatsConfig())
    acc = fn.add_input(fn.create_accumulator(), (0, table.to_batches()[0]))
    stats = dataset_statistics("train", fn.extract_output(acc), StatsConfig())
    day = stats.feature("day")
    assert (day.num_present, day.num_missing) == (2, 1)
    assert (day.numeric.min, day.numeric.max, day.numeric.mean) == (10.0, 30.0, 20.0)
