"""Row hashing of 32-bit temporal columns (dates read from CSV): found by the gauntlet."""

from __future__ import annotations

import datetime

import numpy as np
import pyarrow as pa
import pytest

from gristmill.components.beam.hashing import hash_array, hash_rows

pytestmark = pytest.mark.unit


def test_date32_and_time32_columns_hash_like_their_day_and_time_counts():
    # pyarrow's CSV reader types ISO dates as date32; casting date32 straight to int64 is
    # refused by pyarrow, so CsvExampleGen failed on any CSV with a date column.
    dates = pa.array([datetime.date(1967, 7, 1), None, datetime.date(2020, 2, 29)])
    days = pa.array([-915, None, 18321], pa.int32())
    assert np.array_equal(hash_array(dates), hash_array(days))
    times = pa.array([datetime.time(12, 30), None], pa.time32("s"))
    assert np.array_equal(hash_array(times), hash_array(pa.array([45000, None], pa.int32())))
    table = pa.table({"day": dates, "x": [1.0, 2.0, 3.0]})
    assert len(set(hash_rows(table).tolist())) == 3


def test_timestamp_hashes_are_unchanged_by_the_date32_fix():
    stamps = pa.array([datetime.datetime(2020, 1, 1), None], pa.timestamp("us"))
    assert np.array_equal(hash_array(stamps),
                          hash_array(pa.array([1577836800000000, None], pa.int64())))
