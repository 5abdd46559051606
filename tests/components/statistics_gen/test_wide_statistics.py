"""Wide data (issue 14 item 19): statistics read once per process, columns reduced together,
accumulators shipped as bytes; none of it changes a figure."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pydantic
import pytest

from gristmill.components.beam.statistics.accumulators import (
    NumericAccumulator,
    add_plain_columns,
)
from gristmill.components.beam.statistics.combine import StatsCombineFn, StatsConfig
from gristmill.components.beam.statistics.output import dataset_statistics
from gristmill.components.framework import statistics_model
from gristmill.components.framework.executor import ExecutionContext
from gristmill.components.framework.statistics_model import (
    DatasetStatistics,
    clear_statistics_cache,
    load_statistics,
    save_statistics,
)
from gristmill.metadata.standard_artifacts import (
    ExampleAnomalies,
    Examples,
    ExampleStatistics,
    Schema,
)


def _wide_table(rows: int, columns: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({f"c{i}": rng.normal(size=rows) if i % 2 else
                     rng.choice(["a", "b", "c"], rows) for i in range(columns)})


def _stats(table: pa.Table, config: StatsConfig = StatsConfig()) -> DatasetStatistics:
    fn = StatsCombineFn(config)
    acc = fn.add_input(fn.create_accumulator(), (1, table.to_batches()[0]))
    return dataset_statistics("train", fn.extract_output(acc), config)


class _CountingParses:
    def __init__(self, monkeypatch):
        self.count = 0
        original = DatasetStatistics.model_validate_json.__func__

        def counted(cls, *args, **kwargs):
            self.count += 1
            return original(cls, *args, **kwargs)

        monkeypatch.setattr(DatasetStatistics, "model_validate_json", classmethod(counted))


@pytest.mark.integration
def test_statistics_gen_schema_gen_and_example_validator_parse_no_statistics_file(
        tmp_path, monkeypatch):
    # Before: each of the three parsed every split's statistics.json again (6 parses of
    # 0.5 s each at 5,000 columns); now the file StatisticsGen wrote is handed over.
    from gristmill.components.example_validator.component import ExampleValidator
    from gristmill.components.schema_gen.component import SchemaGen
    from gristmill.components.statistics_gen.component import StatisticsGen

    clear_statistics_cache()
    examples = Examples(str(tmp_path / "examples"))
    for split, seed in (("train", 1), ("eval", 2)):
        os.makedirs(examples.split_uri(split))
        pq.write_table(_wide_table(60, 300, seed),
                       os.path.join(examples.split_uri(split), "part-00000.parquet"))
    examples.splits = ["train", "eval"]
    parses = _CountingParses(monkeypatch)
    artifacts = {}
    for name, component, inputs, key, artifact_cls in (
            ("StatisticsGen", StatisticsGen, {"examples": [examples]}, "statistics",
             ExampleStatistics),
            ("SchemaGen", SchemaGen, lambda: {"statistics": [artifacts["statistics"]]},
             "schema", Schema),
            ("ExampleValidator", ExampleValidator, lambda: {
                "statistics": [artifacts["statistics"]], "schema": [artifacts["schema"]]},
             "anomalies", ExampleAnomalies)):
        artifacts[key] = artifact_cls(str(tmp_path / key))
        os.makedirs(artifacts[key].uri)
        component.EXECUTOR(ExecutionContext(component_id=name, tmp_dir=str(tmp_path))).Do(
            inputs() if callable(inputs) else inputs, {key: [artifacts[key]]},
            component.PARAMETERS())
    assert parses.count == 0
    assert artifacts["anomalies"].get_custom_property("blessed") == {"train": 1, "eval": 1}
    clear_statistics_cache()  # a fresh process parses each file once, with the same result
    for split in ("train", "eval"):
        reread = load_statistics(artifacts["statistics"].split_uri(split))
        assert len(reread.features) == 300 and reread.num_examples == 60
    assert parses.count == 2


@pytest.mark.unit
def test_a_statistics_file_changed_in_place_is_parsed_again(tmp_path, monkeypatch):
    stats = _stats(_wide_table(20, 6, 3))
    path = save_statistics(stats, str(tmp_path))
    assert load_statistics(str(tmp_path)) is stats
    # same size, same mtime: only the content differs
    text = Path(path).read_bytes()
    changed = text.replace(b'"num_examples": 20', b'"num_examples": 21')
    assert len(changed) == len(text) and changed != text
    before = os.stat(path)
    with open(path, "wb") as f:
        f.write(changed)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    parses = _CountingParses(monkeypatch)
    assert load_statistics(str(tmp_path)).num_examples == 21
    assert load_statistics(str(tmp_path)).num_examples == 21
    assert parses.count == 1


@pytest.mark.unit
def test_statistics_moved_unchanged_are_not_parsed_again(tmp_path, monkeypatch):
    # The launcher writes outputs into .staging/<token>/ and then moves them into place:
    # the reader of the final path gets the object the writer saved.
    stats = _stats(_wide_table(20, 6, 6))
    save_statistics(stats, str(tmp_path / "staging" / "Split-train"))
    os.makedirs(tmp_path / "final")
    os.replace(tmp_path / "staging" / "Split-train", tmp_path / "final" / "Split-train")
    parses = _CountingParses(monkeypatch)
    assert load_statistics(str(tmp_path / "final" / "Split-train")) is stats
    assert parses.count == 0


@pytest.mark.unit
def test_handed_over_statistics_equal_the_parsed_file_and_cannot_be_changed(tmp_path):
    stats = _stats(_wide_table(30, 10, 4))
    path = save_statistics(stats, str(tmp_path))
    assert DatasetStatistics.model_validate_json(Path(path).read_bytes()) == stats
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        stats.features[1].numeric.mean = 0.0  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        stats.num_examples = 0  # type: ignore[misc]


@pytest.mark.unit
def test_statistics_whose_json_loses_a_value_are_parsed_not_handed_over(tmp_path):
    stats = DatasetStatistics(split="train", num_examples=3, weighted_num_examples=float("nan"))
    save_statistics(stats, str(tmp_path))
    loaded = load_statistics(str(tmp_path))
    assert loaded is not stats and loaded.weighted_num_examples is None  # as any reader sees


@pytest.mark.unit
def test_the_cache_is_bounded(tmp_path):
    clear_statistics_cache()
    kept = statistics_model._recent
    for i in range(kept.MAX_ENTRIES + 3):
        save_statistics(DatasetStatistics(split=f"s{i}"), str(tmp_path / str(i)))
    assert len(kept._entries) == kept.MAX_ENTRIES
    assert load_statistics(str(tmp_path / "0")).split == "s0"  # evicted: parsed again


@pytest.mark.unit
def test_packed_accumulators_merge_like_unpacked_ones():
    table = _wide_table(50, 8, 5)
    fn = StatsCombineFn(StatsConfig())
    parts = [fn.add_input(fn.create_accumulator(), (i, table.slice(25 * i, 25).to_batches()[0]))
             for i in range(2)]
    packed = [fn.compact(pickle.loads(pickle.dumps(p))) for p in parts]
    assert all(isinstance(p, bytes) for p in packed) and fn.compact(packed[0]) is packed[0]
    mixed = fn.merge_accumulators([packed[0], pickle.loads(pickle.dumps(parts[1]))])
    plain = fn.merge_accumulators(parts)
    config = StatsConfig()
    assert (dataset_statistics("t", fn.extract_output(mixed), config)
            == dataset_statistics("t", fn.extract_output(plain), config))
    assert fn.extract_output(packed[1])["All"].num_examples == 25


def _columns(rows: int) -> np.ndarray:
    rng = np.random.default_rng(rows)
    x = rng.lognormal(0, 2, (7, rows)) * rng.choice([-1.0, 1.0], (7, rows))
    x[1, ::7] = np.nan
    x[2, 0], x[2, -1] = np.inf, -np.inf
    x[3] = rng.choice([1e308, -1e308, 0.0], rows)  # beyond 2**400: scaled
    x[4] = 0.0
    x[5] = rng.integers(-3, 3, rows)
    return x


@pytest.mark.unit
@pytest.mark.parametrize("rows", [1, 2, 9, 100, 190])
def test_columns_reduced_together_equal_columns_added_one_by_one(rows):
    together = [NumericAccumulator(400) for _ in range(7)]
    alone = [NumericAccumulator(400) for _ in range(7)]
    for batch in range(2):  # the second batch merges into what the first left
        x = _columns(rows + batch)
        add_plain_columns(together, x.copy(), 1.0, list(range(7)))
        for j, acc in enumerate(alone):
            acc.add(x[j].copy(), None, 1.0, j)
    for a, b in zip(together, alone, strict=True):
        fields = ("n", "mean", "m2", "min", "max", "zeros", "nan", "pos_inf", "neg_inf",
                  "scale")
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
        ranks = [0.0, 0.25, 0.5, 1.0]
        assert (a.sketch and a.sketch.quantiles(ranks)) == (b.sketch and b.sketch.quantiles(ranks))


@pytest.mark.unit
def test_histograms_of_constant_and_narrow_columns_beside_ordinary_ones():
    table = pa.table({"x": np.arange(100.0), "const": np.full(100, 7.0),
                      "narrow": np.where(np.arange(100) < 50, 1.0, np.nextafter(1.0, 2.0)),
                      "ints": np.arange(100) % 3})
    stats = _stats(table)
    for name, buckets in (("x", 10), ("const", 1), ("narrow", 1), ("ints", 10)):
        histogram = stats.feature(name).numeric.histogram("standard")
        assert len(histogram.buckets) == buckets
        assert sum(b.count for b in histogram.buckets) == 100
    assert stats.feature("const").numeric.histogram().buckets[0].low == 7.0
    assert [b.count for b in stats.feature("x").numeric.histogram().buckets] == [10.0] * 10
