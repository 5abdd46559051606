"""Degenerate data is flagged before training (issue 14 item 17): statistics of real
tables, validated against the schema SchemaGen infers from them."""

from __future__ import annotations

import pyarrow as pa
import pytest

from gristmill.components.beam.statistics.combine import StatsCombineFn, StatsConfig
from gristmill.components.beam.statistics.output import dataset_statistics
from gristmill.components.framework.anomalies import validate_statistics
from gristmill.components.framework.schema_inference import SchemaGenParameters, infer_schema


def _stats(split: str, table: pa.Table):
    fn = StatsCombineFn(StatsConfig())
    acc = fn.create_accumulator()
    for batch in table.to_batches():
        acc = fn.add_input(acc, (0, batch))
    return dataset_statistics(split, fn.extract_output(acc), StatsConfig())


def _codes(*tables: tuple[str, pa.Table]) -> dict[str, set]:
    stats = [_stats(split, table) for split, table in tables]
    schema = infer_schema(stats, SchemaGenParameters())
    return {s.split: {(a.code, a.feature, a.severity)
                      for a in validate_statistics(s, schema).anomalies} for s in stats}


@pytest.mark.unit
def test_a_single_class_label_is_flagged_with_the_fix():
    table = pa.table({"x": [1.0, 2.0, 3.0, 4.0], "label": ["yes"] * 4})
    found = _codes(("train", table))["train"]
    assert found == {("FEATURE_CONSTANT", "label", "WARNING")}


@pytest.mark.unit
def test_an_empty_split_is_an_error_and_a_one_row_split_a_warning():
    rows = pa.table({"x": [1.0], "y": ["a"]})
    found = _codes(("train", rows), ("eval", rows.slice(0, 0)))
    assert ("DATASET_EMPTY_SPLIT", None, "ERROR") in found["eval"]
    assert found["train"] == {("DATASET_ONE_ROW", None, "WARNING")}


@pytest.mark.unit
def test_columns_without_values_or_finite_values_are_flagged():
    table = pa.table({"empty": pa.array([None] * 3, pa.string()),
                      "nan": [float("nan")] * 3, "ok": [1, 2, 3]})
    found = _codes(("train", table))["train"]
    assert ("FEATURE_ALL_MISSING", "empty", "WARNING") in found
    assert ("FEATURE_NO_FINITE_VALUES", "nan", "WARNING") in found
    assert not any(feature == "ok" for _, feature, _ in found)
