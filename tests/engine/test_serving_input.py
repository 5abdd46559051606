"""Raw inputs of a serving bundle: missing columns, absent keys, unknown keys, safe widening.

Every test uses a real bundle trained on a table with a float, an integer (with missing
values), a string and an integer-coded categorical column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from gristmill.engine.errors import DataError
from gristmill.engine.serving import load_bundle, save_bundle
from gristmill.engine.tabular import raw_feature_spec, train_tabular
from gristmill.engine.training import TrainConfig

pytestmark = pytest.mark.integration


def records(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = pa.array([None if i % 7 == 0 else int(v) for i, v in enumerate(rng.integers(0, 10, n))],
                  pa.int64())
    color = rng.choice(["red", "green", "blue"], n)
    code = rng.integers(1, 4, n)
    label = np.where(x1 + (color == "red") * 1.5 + (code == 2) > 0.5, "yes", "no")
    return pa.table({"x1": x1, "x2": x2, "color": color, "code": code, "label": label})


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("bundle"))
    table = records(500)
    result = train_tabular(table, None, "label", categorical=["code"],
                           config=TrainConfig(epochs=3, batch_size=64))
    save_bundle(directory, result.model, result.prepared.encoder, result.prepared.label,
                raw_feature_spec(table.schema, ["label"]), exports=())
    return directory


@pytest.fixture(scope="module")
def bundle(bundle_dir):
    return load_bundle(bundle_dir)


def probs(table: pa.Table) -> np.ndarray:
    return np.array(table["probabilities"].to_pylist())


def test_a_missing_raw_column_is_refused_with_its_name_and_the_fix(bundle):
    raw = records(20, seed=1).drop_columns(["label"])
    assert bundle.required_columns == ["x1", "x2", "color", "code"]
    with pytest.raises(DataError, match=r"raw column 'x1' is missing.*Fix: add the missing"):
        bundle.predict(raw.drop_columns(["x1"]))
    with pytest.raises(DataError, match=r"raw columns 'x1', 'color' are missing"):
        bundle.predict(raw.drop_columns(["x1", "color"]).to_pandas())
    misspelled = raw.rename_columns(["x_1", "x2", "color", "code"])
    with pytest.raises(DataError, match=r"Did you mean 'x_1' for 'x1'\?"):
        bundle.predict(misspelled)
    # A column of nulls is how unknown values are sent; other columns are ignored.
    nulls = raw.set_column(0, "x1", pa.nulls(20, pa.float64())).append_column(
        "row_id", pa.array(range(20)))
    out, report = bundle.predict_with_report(nulls)
    assert out.num_rows == 20 and report.ignored_columns == ["row_id"]


def test_absent_key_scores_as_null_and_unknown_keys_are_reported(bundle):
    sent_null = [{"x1": 0.3, "x2": None, "color": "red", "code": 2},
                 {"x1": None, "x2": 4, "color": None, "code": None}]
    left_out = [{"x1": 0.3, "color": "red", "code": 2, "x_2": 5},
                {"x2": 4, "colour": "blue"}]
    a, _ = bundle.predict_records_with_report(sent_null)
    b, report = bundle.predict_records_with_report(left_out)
    assert [r["probabilities"] for r in a] == [r["probabilities"] for r in b]
    assert report.unknown_keys == {"x_2": 1, "colour": 1}
    assert report.warnings() == [
        "unknown key 'x_2' ignored in 1 record(s): the model does not read it; did you mean "
        "'x2'?",
        "unknown key 'colour' ignored in 1 record(s): the model does not read it; did you "
        "mean 'color'?"]
    # The same rule through predict() with a list of records and with a table of nulls.
    np.testing.assert_array_equal(probs(bundle.predict(left_out)),
                                  [r["probabilities"] for r in a])
    table = pa.Table.from_pylist(sent_null)
    np.testing.assert_allclose(probs(bundle.predict(table)), [r["probabilities"] for r in a],
                               atol=1e-7)


def test_empty_records_and_empty_requests_are_refused(bundle):
    with pytest.raises(DataError, match=r"record\(s\) \[1\] of 2 have no value for any of the "
                                        r"model's features"):
        bundle.predict_records([{"x1": 1.0}, {}])
    with pytest.raises(DataError, match=r"record\(s\) \[0\] .*\(record 0 has keys \['x_1'\]\)"
                                        r".*\{'x_1': 'x1'\}"):
        bundle.predict_records([{"x_1": 1.0}])  # only an unknown key: nothing the model reads
    with pytest.raises(DataError, match="no records to predict"):
        bundle.predict_records([])
    with pytest.raises(DataError, match="are not JSON objects"):
        bundle.predict_records([["x1", 1.0]])


def test_pd_read_csv_of_the_training_csv_is_served_with_safe_widening(bundle, tmp_path):
    table = records(60, seed=2)
    path = tmp_path / "train.csv"
    pacsv.write_csv(table, path)
    expected = probs(bundle.predict(pacsv.read_csv(path).drop_columns(["label"])))
    frame = pd.read_csv(path).drop(columns=["label"])
    assert str(frame["x2"].dtype) == "float64" and str(frame["code"].dtype) == "int64"
    out, report = bundle.predict_with_report(frame)
    np.testing.assert_array_equal(probs(out), expected)
    assert report.conversions["x2"] == "double -> int64 (whole numbers)"
    # Empty CSV cells read as "" (keep_default_na=False) are missing values, not errors.
    text = pd.read_csv(path, keep_default_na=False).drop(columns=["label"])
    assert text["x2"].tolist()[0] == ""
    np.testing.assert_array_equal(probs(bundle.predict(text)), expected)


def test_unsafe_input_is_an_error_naming_the_column(bundle):
    raw = records(5, seed=3).drop_columns(["label"]).to_pandas()
    with pytest.raises(DataError, match=r"raw column 'x1' was double in training .*got "
                                        r"(large_)?string holding text 'abc'"):
        bundle.predict(raw.assign(x1=["1.5", "abc", "", None, "2"]))
    with pytest.raises(DataError, match=r"raw column 'x2' was int64 in training .*holding 2.5 "
                                        r"\(row 1\), which an integer column cannot hold"):
        bundle.predict(raw.assign(x2=[1.0, 2.5, None, 3.0, 4.0]))
    with pytest.raises(DataError, match=r"raw column 'color' .*got list<item: int64>"):
        bundle.predict(raw.assign(color=[[1], [2], [3], [4], [5]]))
    with pytest.raises(DataError, match=r"raw column 'x1' was double in training; record 1 "
                                        r"holds 'abc'"):
        bundle.predict_records([{"x1": 1.0}, {"x1": "abc"}])
    # Numeric text and ints for a string column are safe: same predictions as the typed ones.
    typed = bundle.predict(raw)
    as_text = bundle.predict(raw.assign(x1=[str(v) for v in raw["x1"]]))
    np.testing.assert_array_equal(probs(typed), probs(as_text))


def test_records_and_tables_follow_the_same_widening(bundle):
    """The records fast path (Python) and the table path (Arrow) give the same answers."""
    rows = [{"x1": "0.5", "x2": 3.0, "color": "red", "code": 2.0},
            {"x1": 1, "x2": "", "color": None, "code": "2"},
            {"x1": " ", "x2": True, "color": "blue", "code": 3},
            {"x1": -0.25, "color": "purple", "code": None, "ignored": [1, 2]}]
    fast = bundle.predict_records(rows)
    typed = pa.table({"x1": [0.5, 1.0, None, -0.25], "x2": pa.array([3, None, 1, None]),
                      "color": ["red", None, "blue", "purple"],
                      "code": pa.array([2, 2, 3, None])})
    np.testing.assert_allclose([r["probabilities"] for r in fast], probs(bundle.predict(typed)),
                               atol=1e-6)
    assert [r["prediction"] for r in fast] == bundle.predict(typed)["prediction"].to_pylist()
    np.testing.assert_allclose(probs(bundle.predict(rows)), probs(bundle.predict(typed)),
                               atol=1e-6)
    with pytest.raises(DataError, match=r"raw column 'x2' was int64 in training; record 1 "
                                        r"holds 2.5"):
        bundle.predict_records([{"x2": 1}, {"x2": 2.5}])
