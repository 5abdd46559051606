"""The statistics HTML report: any mix of per-split category sets and histogram shapes."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from gristmill.components.beam.statistics.combine import StatsCombineFn, StatsConfig
from gristmill.components.beam.statistics.output import dataset_statistics
from gristmill.components.framework.html import bar_chart
from gristmill.components.framework.statistics_report import render_statistics_report


def _stats(split: str, table: pa.Table):
    fn = StatsCombineFn(StatsConfig())
    acc = fn.create_accumulator()
    for batch in table.to_batches():
        acc = fn.add_input(acc, (0, batch))
    return dataset_statistics(split, fn.extract_output(acc), StatsConfig())


@pytest.mark.unit
def test_report_renders_a_column_constant_in_one_split_only():
    # Issue 18 defect 4 / issue 14 item 14: train holds one distinct value (after
    # fill_missing), eval another set: the charts crashed with IndexError.
    train = pa.table({"x": [0.0] * 50, "c": ["missing"] * 50})
    eval_ = pa.table({"x": [float(i % 7) for i in range(30)],
                      "c": [f"v{i % 5}" for i in range(30)]})
    for order in (("train", "eval"), ("eval", "train")):  # either split first
        tables = {"train": train, "eval": eval_}
        html = render_statistics_report({s: _stats(s, tables[s]) for s in order})
        assert html.count("<svg") == 3  # x: histogram + quantiles; c: top values
        # every bar of every split is drawn: 2 splits x 10 common equal-width buckets
        chart = html.split("equal-width histogram")[1].split("</svg>")[0]
        assert len(re.findall(r"<rect ", chart)) == 20
        # the constant split's whole mass sits in the bucket that holds 0.0
        assert "train 0: 100.00%" in chart


@pytest.mark.unit
def test_report_renders_an_empty_split_and_a_split_without_the_column():
    train = pa.table({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "c"]})
    eval_ = pa.table({"x": pa.array([None, None], pa.float64())})
    html = render_statistics_report({"train": _stats("train", train),
                                     "eval": _stats("eval", eval_)})
    assert "<svg" in html and "y" in html


@pytest.mark.unit
def test_bar_chart_refuses_a_series_of_the_wrong_length():
    with pytest.raises(ValueError, match="series 'eval' has 1 values for 3 labels"):
        bar_chart(["a", "b", "c"], {"train": [1, 2, 3], "eval": [1]})


@pytest.mark.unit
def test_wide_reports_chart_the_first_features_and_say_so(monkeypatch):
    from gristmill.components.framework import statistics_report

    monkeypatch.setattr(statistics_report, "MAX_CHARTED_FEATURES", 2)
    table = pa.table({f"c{i}": [float(j % (i + 2)) for j in range(20)] for i in range(5)})
    html = render_statistics_report({"train": _stats("train", table)})
    assert html.count("<svg") == 4  # two charts each for c0 and c1
    assert "the other 3 have their figures only" in html
    assert all(f">c{i} <" in html for i in range(5))
