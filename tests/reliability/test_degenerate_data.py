"""A fast subset of the degenerate-data harness (issue 14 item 17)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from . import degenerate
from .common import HarnessResult


@pytest.mark.integration
def test_fixed_degenerate_cases_are_flagged_or_refused(tmp_path):
    result = HarnessResult("degenerate")
    degenerate.check_fixed(str(tmp_path), result)
    assert result.details == [] and result.trials >= 5


@pytest.mark.integration
@pytest.mark.parametrize("rows", [1, 500])
def test_identical_rows_leave_a_split_empty_and_it_halts(tmp_path, rows):
    table = pa.table({"x": [1.5] * rows, "s": ["a"] * rows})
    result = HarnessResult("degenerate")
    degenerate.check_table(table, str(tmp_path), result, f"{rows} identical rows")
    assert result.details == []
