"""A fast subset of the Arrow-types harness: every Arrow type through the data components
(issue 14 item 14)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from . import arrow_types
from .common import HarnessResult


@pytest.mark.integration
def test_every_arrow_type_ingests_and_gets_exact_counts(tmp_path):
    result = HarnessResult("arrow_types")
    storable = {n: f for n, f in arrow_types.TYPES.items()
                if n not in ("interval", "fixed_size_list")}
    table = pa.table({"id": pa.array(range(40)),
                      **{n: arrow_types._with_nulls(f(40), 3) for n, f in storable.items()}})
    arrow_types.check_table(table, str(tmp_path / "all"), result, "all types")
    assert result.details == [] and result.trials == len(storable) + 2


@pytest.mark.integration
@pytest.mark.parametrize("name", ["interval", "fixed_size_list"])
def test_types_parquet_cannot_hold_are_refused_naming_the_column(tmp_path, name):
    result = HarnessResult("arrow_types")
    table = pa.table({"id": pa.array(range(10)),
                      name: arrow_types._with_nulls(arrow_types.TYPES[name](10), 3)})
    arrow_types.check_table(table, str(tmp_path), result, name)
    assert result.details == []


@pytest.mark.integration
def test_csv_dates_times_and_timestamps_pass_every_component(tmp_path):
    result = HarnessResult("arrow_types")
    arrow_types.check_csv(str(tmp_path), result)
    assert result.details == [] and result.trials == 1
