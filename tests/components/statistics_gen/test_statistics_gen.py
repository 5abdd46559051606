"""StatisticsGen: accumulators against pandas and exact answers, then the executor on Beam."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.components.beam.statistics.combine import (
    ALL_SLICE,
    DatasetAccumulator,
    StatsCombineFn,
    StatsConfig,
    add_batch,
)
from gristmill.components.beam.statistics.output import dataset_statistics
from gristmill.components.framework.executor import ExecutionContext, Reporter
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.standard_artifacts import Examples, ExampleStatistics


def _statistics(table: pa.Table, config: StatsConfig = StatsConfig(), chunks: int = 4):
    """Fold ``table`` in uneven batches through separate accumulators, merge, finish."""
    fn = StatsCombineFn(config)
    bounds = np.linspace(0, table.num_rows, chunks + 1).astype(int)
    if chunks > 1:
        bounds[1] = max(1, bounds[1] // 3)  # uneven sizes exercise the merge formulas
    accumulators = []
    for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        acc = fn.create_accumulator()
        for batch in table.slice(lo, hi - lo).to_batches():
            acc = fn.add_input(acc, (i, batch))
        accumulators.append(pickle.loads(pickle.dumps(acc)))  # as shipped between workers
    merged = fn.merge_accumulators(reversed(accumulators))
    return dataset_statistics("train", fn.extract_output(merged), config)


def _frame(rows: int = 20_000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.lognormal(3.0, 1.0, rows)
    x[rng.random(rows) < 0.05] = np.nan  # nulls once in Arrow
    return pd.DataFrame({"x": x, "k": rng.integers(-5, 6, rows),
                         "city": rng.choice(["oslo", "rome", "lima", "kyiv"], rows,
                                            p=[0.5, 0.3, 0.15, 0.05])})


@pytest.mark.unit
def test_moments_equal_pandas_to_1e9_relative():
    frame = _frame()
    stats = _statistics(pa.Table.from_pandas(frame, preserve_index=False))
    for name in ("x", "k"):
        numeric = stats.feature(name).numeric
        column = frame[name].astype(float)
        assert numeric.mean == pytest.approx(column.mean(), rel=1e-9)
        assert numeric.std_dev == pytest.approx(column.std(ddof=0), rel=1e-9)
        assert (numeric.min, numeric.max) == (column.min(), column.max())
        assert stats.feature(name).num_missing == column.isna().sum()
        assert numeric.num_zeros == (column == 0).sum()


@pytest.mark.unit
def test_top_values_and_unique_are_exact_for_well_separated_counts():
    frame = _frame()
    stats = _statistics(pa.Table.from_pandas(frame, preserve_index=False))
    string = stats.feature("city").string
    expected = frame["city"].value_counts()
    assert [(v.value, v.count) for v in string.top_values] == list(expected.items())
    assert (string.unique, string.unique_is_exact) == (4, True)
    assert string.avg_length == pytest.approx(frame["city"].str.len().mean())


@pytest.mark.unit
def test_beyond_the_exact_bound_unique_is_sketched_within_3_percent():
    values = pa.array([f"user-{i}" for i in range(60_000)] * 2)
    stats = _statistics(pa.table({"user": values}), StatsConfig(max_exact_unique=1000))
    string = stats.feature("user").string
    assert not string.unique_is_exact and not string.top_values_exact
    assert abs(string.unique - 60_000) / 60_000 < 0.03


@pytest.mark.unit
def test_nan_and_infinities_are_counted_not_averaged():
    table = pa.table({"v": pa.array([1.0, np.nan, np.inf, -np.inf, 3.0, None])})
    numeric = _statistics(table, chunks=2).feature("v").numeric
    assert (numeric.num_nan, numeric.num_pos_inf, numeric.num_neg_inf) == (1, 1, 1)
    assert numeric.mean == 2.0 and (numeric.min, numeric.max) == (1.0, 3.0)


@pytest.mark.unit
def test_weighted_moments_and_counts_follow_the_weight_feature():
    table = pa.table({"v": [1.0, 2.0, 3.0], "w": [1.0, 1.0, 2.0], "c": ["a", "b", "b"]})
    stats = _statistics(table, StatsConfig(weight_feature="w"), chunks=1)
    numeric = stats.feature("v").numeric
    assert numeric.weighted_mean == pytest.approx(9 / 4)
    assert numeric.weighted_std_dev == pytest.approx(np.sqrt((1.5625 + 0.0625 + 2 * 0.5625) / 4))
    assert stats.weighted_num_examples == 4.0
    weighted = {v.value: v.weighted_count for v in stats.feature("c").string.top_values}
    assert weighted == {"b": 3.0, "a": 1.0}


@pytest.mark.unit
def test_slices_partition_the_rows():
    frame = _frame(3000)
    stats = _statistics(pa.Table.from_pandas(frame, preserve_index=False),
                        StatsConfig(slice_features=("city",), max_slices_per_feature=2))
    slices = {s.slice: s.num_examples for s in stats.slices}
    counts = frame["city"].value_counts()
    assert slices == {"city=oslo": counts["oslo"], "city=rome": counts["rome"],
                      "city=__OTHER__": counts["lima"] + counts["kyiv"]}
    oslo = next(s for s in stats.slices if s.slice == "city=oslo")
    expected = frame.loc[frame.city == "oslo", "x"].mean()
    assert oslo.feature("x").numeric.mean == pytest.approx(expected, rel=1e-9)


@pytest.mark.unit
def test_list_columns_report_values_per_row():
    table = pa.table({"tags": pa.array([[1, 2], [3], None, [4, 5, 6]])})
    feature = _statistics(table, chunks=1).feature("tags")
    assert (feature.is_list, feature.num_missing, feature.min_num_values,
            feature.max_num_values, feature.num_values) == (True, 1, 1, 3, 6)
    assert feature.numeric.mean == 3.5


@pytest.mark.unit
def test_quantile_rank_error_within_1_percent_on_1m_rows():
    from gristmill.components.beam.statistics.options import StatsOptions
    from gristmill.components.beam.statistics.sketches import kll_k_for_epsilon

    rows = 1_000_000
    values = np.random.default_rng(3).standard_exponential(rows) ** 2
    options = StatsOptions()
    config = StatsConfig(kll_k=kll_k_for_epsilon(0.01),
                         sample_rate=min(1.0, options.sample_size() / rows))
    acc = DatasetAccumulator()
    table = pa.table({"v": values})
    for seed, batch in enumerate(table.to_batches(max_chunksize=65_536)):
        add_batch(acc, batch, config, seed)
    numeric = dataset_statistics("t", {ALL_SLICE: acc}, config).feature("v").numeric
    ordered = np.sort(values)
    for i, q in enumerate(numeric.quantiles[1:-1], start=1):
        low = np.searchsorted(ordered, q, side="left") / rows
        high = np.searchsorted(ordered, q, side="right") / rows
        target = i / 100
        error = 0.0 if low <= target <= high else min(abs(low - target), abs(high - target))
        assert error <= 0.01, (i, q, error)
    assert 0.3 < config.sample_rate < 0.4  # the default budget samples 1M rows


class _RecordingReporter(Reporter):
    def __init__(self):
        self.artifacts = []

    def log_artifact(self, path, artifact_path=None):
        self.artifacts.append(path)


def _examples(tmp_path, frames: dict[str, pd.DataFrame]) -> Examples:
    examples = Examples(str(tmp_path / "examples"))
    for split, frame in frames.items():
        os.makedirs(examples.split_uri(split))
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, os.path.join(examples.split_uri(split), "part-00000.parquet"),
                       row_group_size=700)
    examples.splits = list(frames)
    examples.set_property("span", 3)
    return examples


@pytest.mark.integration
def test_executor_writes_statistics_per_split_and_attaches_the_report(tmp_path):
    from gristmill.components.beam.statistics.options import StatsOptions
    from gristmill.components.framework.statistics_model import load_statistics
    from gristmill.components.statistics_gen.component import StatisticsGen

    frames = {"train": _frame(2000, 1), "eval": _frame(1000, 2), "test": _frame(10, 3)}
    examples = _examples(tmp_path, frames)
    output = ExampleStatistics(str(tmp_path / "statistics"))
    os.makedirs(output.uri)
    reporter = _RecordingReporter()
    context = ExecutionContext(component_id="StatisticsGen", tmp_dir=str(tmp_path),
                               reporter=reporter)
    params = StatisticsGen.PARAMETERS(exclude_splits=["test"],
                                      stats_options=StatsOptions(slice_features=["city"]))
    StatisticsGen.EXECUTOR(context).Do({"examples": [examples]}, {"statistics": [output]}, params)
    assert output.splits == ["train", "eval"] and output.get_property("span") == 3
    for split in ("train", "eval"):
        stats = load_statistics(output.split_uri(split))
        assert stats.num_examples == len(frames[split])
        assert stats.feature("x").numeric.mean == pytest.approx(frames[split].x.mean(), rel=1e-9)
        assert len(stats.slices) == 4
    assert not os.path.exists(output.split_uri("test"))
    report = Path(reporter.artifacts[0]).read_text()
    assert reporter.artifacts == [os.path.join(output.uri, "report.html")]
    # figures embedded as JSON, drawn by the page's own script (no network: issue 21 item 6)
    assert '"name":"city"' in report and "https://" not in report and "<script src" not in report
    assert context.metrics["train_num_examples"] == 2000.0


@pytest.mark.unit
def test_component_checks_channel_types_and_options():
    from gristmill.components.beam.statistics.options import StatsOptions
    from gristmill.components.schema_gen.component import ImportSchemaGen
    from gristmill.components.statistics_gen.component import StatisticsGen

    schema = ImportSchemaGen(schema_file="schema.yaml")
    with pytest.raises(ConfigError, match="expected an? Examples channel, got Schema"):
        StatisticsGen(examples=schema.outputs["schema"])
    with pytest.raises(ValueError, match="must divide 100"):
        StatsOptions(num_quantiles_histogram_buckets=7)


@pytest.mark.unit
def test_values_near_the_float_limit_get_finite_moments_and_histograms():
    # Issue 14 item 14: +-1e308 overflowed the sums and the histogram edges (crash).
    x = np.array([1e308, -1e308, 5e307, 0.0, 1e308, -3e307])
    numeric = _statistics(pa.table({"x": x}), chunks=3).feature("x").numeric
    scaled = x / 1e300
    assert numeric.mean == pytest.approx(scaled.mean() * 1e300, rel=1e-12)
    assert numeric.std_dev == pytest.approx(scaled.std() * 1e300, rel=1e-12)
    buckets = numeric.histogram("standard").buckets
    assert len(buckets) == 10 and sum(b.count for b in buckets) == 6
    assert all(np.isfinite([b.low, b.high]).all() for b in buckets)


@pytest.mark.unit
def test_dates_times_and_huge_unsigned_integers_are_measured_as_integers():
    import datetime

    table = pa.table({
        "day": pa.array([datetime.date(2020, 1, d) for d in (1, 2, 3)], pa.date32()),
        "clock": pa.array([datetime.time(h, 0) for h in (1, 2, 3)], pa.time32("s")),
        "big": pa.array([2**63, 2**63 + 2048, 2**64 - 1], pa.uint64()),
        "ms": pa.array([0, 1000, 2000], pa.timestamp("ms")),
    })
    stats = _statistics(table, chunks=1)
    assert stats.feature("day").type == "INT"
    assert stats.feature("day").numeric.min == 18262  # days since 1970-01-01
    assert stats.feature("clock").numeric.max == 3 * 3600
    assert stats.feature("big").numeric.min == pytest.approx(2.0**63)
    assert stats.feature("ms").numeric.mean == 1000


@pytest.mark.unit
def test_distinct_count_is_right_when_exact_and_sketched_parts_merge():
    # The HLL is fed only once exact counting stops; it then starts from every value
    # counted so far. Chunks here: 500 (exact), 2500 (sketched), 1500 and 1500 (exact,
    # their merge overflows the bound): every merge path.
    values = pa.array([f"u{i % 3000}" for i in range(6000)])
    stats = _statistics(pa.table({"user": values}), StatsConfig(max_exact_unique=2000))
    string = stats.feature("user").string
    assert not string.unique_is_exact
    assert abs(string.unique - 3000) / 3000 < 0.03
    small = _statistics(pa.table({"user": values.slice(0, 1500)}),
                        StatsConfig(max_exact_unique=2000)).feature("user").string
    assert (small.unique, small.unique_is_exact) == (1500, True)
