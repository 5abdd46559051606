"""ExampleDiff: pairing counts, per-feature skew, samples, duplicates and errors by hand."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.components.example_diff.beam_pipeline import pair_rows, values_equal
from gristmill.components.example_diff.component import ExampleDiff
from gristmill.components.example_diff.config import (
    ExampleDiffConfig,
    ExampleDiffParameters,
    PairedExampleSkew,
)
from gristmill.components.example_diff.executor import plan_feature
from gristmill.components.example_diff.model import load_diff
from gristmill.components.framework.executor import ExecutionContext, Reporter
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.standard_artifacts import Examples, ExamplesDiff

NAN = math.nan

# Baseline: id 5 twice (duplicate), 6 has no partner, one row without id.
BASE = pa.table({
    "id": pa.array([1, 2, 3, 4, 5, 5, 6, None, 7], pa.int64()),
    "x": pa.array([1.0, NAN, 3.0, 4.0, 5.0, 5.5, 6.0, 0.0, 7.0], pa.float64()),
    "s": pa.array(["a", "b", None, "d", "e", "e", "f", "z", "g"]),
    "n": pa.array([10, 20, 30, 40, 50, 50, 60, 0, 70], pa.int64()),
    "typed": pa.array([1, 2, 3, 4, 5, 5, 6, 0, 7], pa.int64()),
    "ignored": pa.array(["b"] * 9),
})
# Test: id 7 twice (duplicate), 9 has no partner; column only_test; typed is a string.
TEST = pa.table({
    "id": pa.array([1, 2, 3, 4, 5, 7, 7, 9], pa.int32()),
    "x": pa.array([1.0, NAN, 3.001, None, 5.0, 7.0, 7.5, 9.0], pa.float32()),
    "s": pa.array(["a", "B", "c", "d", "e", "g", "g", "i"], pa.large_string()),
    "n": pa.array([10, 20, 31, 40, 50, 70, 70, 90], pa.int32()),
    "typed": pa.array(["1", "2", None, "4", "5", "7", "7", "9"]),
    "ignored": pa.array(["t"] * 8),
    "only_test": pa.array([None, "u", "v", "w", "e", "g", "g", "i"]),
})


def _examples(root: Path, name: str, splits: dict[str, pa.Table]) -> Examples:
    uri = root / name
    for split, table in splits.items():
        os.makedirs(uri / f"Split-{split}")
        pq.write_table(table, uri / f"Split-{split}" / "part-00000.parquet", row_group_size=3)
    artifact = Examples(uri=str(uri))
    artifact.splits = list(splits)
    return artifact


class _Reports(Reporter):
    def __init__(self):
        self.artifacts, self.metrics = [], {}

    def log_artifact(self, path, artifact_path=None):
        self.artifacts.append(path)

    def log_metrics(self, metrics, step=None):
        self.metrics.update(metrics)


def _run(tmp_path: Path, test: Examples, base: Examples, out: str = "diff", **skew):
    params = dict(skew.pop("params", {}))
    skew.setdefault("identifier_features", ["id"])
    skew.setdefault("ignore_features", ["ignored"])
    output = ExamplesDiff(uri=str(tmp_path / out))
    os.makedirs(output.uri)
    reporter = _Reports()
    context = ExecutionContext(component_id="ExampleDiff", tmp_dir=str(tmp_path),
                               reporter=reporter)
    ExampleDiff.EXECUTOR(context).Do(
        {"examples": [test], "baseline_examples": [base]}, {"example_diff_result": [output]},
        ExampleDiffParameters(config=ExampleDiffConfig(
            paired_example_skew=PairedExampleSkew(**skew)), **params))
    return output, reporter


def _counts(feature):
    return (feature.base_count, feature.test_count, feature.match_count,
            feature.mismatch_count, feature.base_only, feature.test_only, feature.diff_count)


@pytest.fixture()
def inputs(tmp_path):
    return (_examples(tmp_path, "test", {"train": TEST, "eval": TEST.slice(0, 2)}),
            _examples(tmp_path, "base", {"train": BASE}))


@pytest.mark.integration
def test_counts_samples_and_report_without_duplicates(tmp_path, inputs):
    output, reporter = _run(tmp_path, *inputs)
    assert output.get_property("split_pairs") == [["train", "train"]]
    diff = load_diff(os.path.join(output.uri, "SplitPair-train_train"))
    stats = diff.match_stats.model_dump()
    assert stats == {
        "base_rows": 9, "test_rows": 8, "base_missing_id_rows": 1, "test_missing_id_rows": 0,
        "identifiers": 8, "base_duplicate_ids": 1, "test_duplicate_ids": 1,
        "base_duplicate_id_rows": 2, "test_duplicate_id_rows": 2,
        # id 5 (2 base rows + 1 test row) and id 7 (1 + 2) are left out, and counted
        "base_excluded_duplicate_rows": 3, "test_excluded_duplicate_rows": 3,
        "ids_only_in_base": 1, "ids_only_in_test": 1, "base_unpaired_rows": 1,
        "test_unpaired_rows": 1, "base_paired_rows": 4, "test_paired_rows": 4, "pairs": 4,
        "pairs_with_diff": 4}
    assert [f.name for f in diff.features] == ["x", "s", "n", "typed", "only_test"]
    # (base, test, match, mismatch, base_only, test_only, diff) over pairs 1..4
    assert _counts(diff.feature("x")) == (4, 3, 2, 1, 1, 0, 2)  # NaN == NaN; 3.0 != 3.001
    assert _counts(diff.feature("s")) == (3, 4, 2, 1, 0, 1, 2)  # string vs large_string
    assert _counts(diff.feature("n")) == (4, 4, 3, 1, 0, 0, 1)  # int64 vs int32
    typed = diff.feature("typed")
    assert (typed.type_mismatch, typed.base_type, typed.test_type) == (True, "int64", "string")
    assert _counts(typed) == (4, 3, 0, 3, 1, 0, 4)
    only = diff.feature("only_test")
    assert (only.base_type, only.test_type, _counts(only)) == (None, "string",
                                                               (0, 3, 0, 0, 0, 3, 3))
    samples = sorted((s.identifiers["id"], s.kind, s.base, s.test)
                     for s in diff.feature("x").samples)
    assert samples == [(3, "mismatch", 3.0, pytest.approx(3.001)), (4, "base_only", 4.0, None)]
    assert [(s.identifiers, s.base, s.test) for s in diff.feature("s").samples
            if s.kind == "mismatch"] == [({"id": 2}, "b", "B")]
    with open(os.path.join(output.uri, "report.html")) as f:
        html = f.read()
    assert "TYPE MISMATCH" in html and "only_test" in html
    assert reporter.artifacts == [os.path.join(output.uri, "report.html")]
    assert reporter.metrics == {"train_train_pairs": 4.0, "train_train_pairs_with_diff": 4.0,
                                "train_train_features_with_diff": 5.0}
    with open(os.path.join(output.uri, "SplitPair-train_train", "diff.json")) as f:
        assert json.load(f)["match_stats"]["pairs"] == 4  # plain, readable JSON


@pytest.mark.integration
def test_duplicates_allowed_pair_every_combination(tmp_path, inputs):
    output, _ = _run(tmp_path, *inputs, allow_duplicate_identifiers=True)
    diff = load_diff(os.path.join(output.uri, "SplitPair-train_train"))
    stats = diff.match_stats
    # id 5: 2 base x 1 test rows, id 7: 1 x 2 -> 4 more pairs; nothing excluded
    assert (stats.pairs, stats.base_paired_rows, stats.test_paired_rows) == (8, 7, 7)
    assert (stats.base_excluded_duplicate_rows, stats.test_excluded_duplicate_rows) == (0, 0)
    assert (stats.base_duplicate_ids, stats.test_duplicate_ids) == (1, 1)
    # x: id5 (5.0,5.0) match, (5.5,5.0) mismatch; id7 (7.0,7.0) match, (7.0,7.5) mismatch
    assert _counts(diff.feature("x")) == (8, 7, 4, 3, 1, 0, 4)


@pytest.mark.integration
def test_tolerance_ignore_sample_size_and_split_pairs(tmp_path, inputs):
    test, base = inputs
    output, _ = _run(tmp_path, test, base, float_tolerance=1e-3, skew_sample_size=1,
                     ignore_features=["ignored", "s", "typed", "only_test"],
                     params={"include_split_pairs": [("train", "train"), ("eval", "train")],
                             "num_shards": 3})
    assert output.get_property("split_pairs") == [["train", "train"], ["eval", "train"]]
    diff = load_diff(os.path.join(output.uri, "SplitPair-train_train"))
    assert diff.ignored_features == ["ignored", "only_test", "s", "typed"]
    assert [f.name for f in diff.features] == ["x", "n"]
    assert _counts(diff.feature("x")) == (4, 3, 3, 0, 1, 0, 1)  # |3.0 - 3.001| <= 1e-3 * 3.001
    assert diff.match_stats.pairs_with_diff == 2  # id 3 (n) and id 4 (x)
    assert [len(f.samples) for f in diff.features] == [1, 1]
    eval_diff = load_diff(os.path.join(output.uri, "SplitPair-eval_train"))
    assert (eval_diff.match_stats.test_rows, eval_diff.match_stats.pairs) == (2, 2)
    assert eval_diff.match_stats.base_unpaired_rows == 4  # ids 3, 4, 6, 7 (5 is duplicated)


@pytest.mark.integration
def test_result_does_not_depend_on_sharding(tmp_path, inputs):
    rng = np.random.default_rng(3)
    ids = rng.permutation(600)
    values = rng.integers(0, 4, 600)
    base = pa.table({"id": pa.array(ids.astype(str)), "v": values, "w": values * 0.5})
    changed = values.copy()
    changed[::7] += 1
    test = pa.table({"id": pa.array(ids[::-1].astype(str))[:580],
                     "v": changed[::-1][:580], "w": values[::-1][:580] * 0.5})
    test_examples = _examples(tmp_path, "t", {"train": test})
    base_examples = _examples(tmp_path, "b", {"train": base})
    diffs = []
    for shards in (1, 5):
        output, _ = _run(tmp_path, test_examples, base_examples, out=f"d{shards}",
                         ignore_features=[], params={"num_shards": shards})
        diffs.append(load_diff(os.path.join(output.uri, "SplitPair-train_train")))
    assert diffs[0] == diffs[1]
    v = diffs[0].feature("v")
    expected = int(((changed != values)[::-1][:580]).sum())
    assert (v.match_count, v.mismatch_count, diffs[0].match_stats.base_unpaired_rows) == (
        580 - expected, expected, 20)
    assert len(v.samples) == 10 and all(s.test == s.base + 1 for s in v.samples)


@pytest.mark.integration
def test_missing_identifier_names_uri_and_columns(tmp_path, inputs):
    test, base = inputs
    with pytest.raises(ConfigError, match=r"'idd' is not a column .*test.*columns: \['id', "
                                          r".*Did you mean 'id'"):
        _run(tmp_path, test, base, identifier_features=["idd"])
    with pytest.raises(ConfigError, match="share no split name"):
        _run(tmp_path, test, _examples(tmp_path, "other", {"serving": BASE}), out="d2")
    with pytest.raises(ConfigError, match="'evl'.*Did you mean 'eval'"):
        _run(tmp_path, test, base, out="d3", params={"include_split_pairs": [("evl", "train")]})


@pytest.mark.integration
def test_identifier_of_different_kinds_is_refused(tmp_path):
    test = _examples(tmp_path, "t", {"train": pa.table({"id": ["1"], "v": [1]})})
    base = _examples(tmp_path, "b", {"train": pa.table({"id": [1], "v": [1]})})
    with pytest.raises(ConfigError, match="'id' is int64 in baseline_examples .* but string"):
        _run(tmp_path, test, base, ignore_features=[])


@pytest.mark.unit
def test_pair_rows_counts_every_row_once():
    base = np.array([1, 1, 2, 3, 4], dtype=np.uint64)
    test = np.array([2, 3, 3, 5, 4], dtype=np.uint64)
    b, t, stats = pair_rows(base, test, allow_duplicates=False)
    assert (b.tolist(), t.tolist()) == ([2, 4], [0, 4])  # ids 2 and 4
    assert (stats["base_excluded_duplicate_rows"], stats["test_excluded_duplicate_rows"]) == (3, 2)
    assert (stats["base_unpaired_rows"], stats["test_unpaired_rows"]) == (0, 1)
    b, t, stats = pair_rows(base, test, allow_duplicates=True)
    assert list(zip(b.tolist(), t.tolist(), strict=True)) == [(2, 0), (3, 1), (3, 2), (4, 4)]
    assert (stats["base_unpaired_rows"], stats["ids_only_in_base"], stats["pairs"]) == (2, 1, 4)


@pytest.mark.unit
def test_values_equal_modes():
    floats = plan_feature("x", pa.float64(), pa.float32())
    a = pa.array([1.0, NAN, math.inf, 100.0, None])
    b = pa.array([1.0, NAN, math.inf, 100.001, 2.0], pa.float32())
    assert values_equal(a, b, floats, 0.0).tolist() == [True, True, True, False, False]
    assert values_equal(a, b, floats, 1e-4).tolist() == [True, True, True, True, False]
    lists = plan_feature("l", pa.list_(pa.int64()), pa.list_(pa.int32()))
    assert lists.mode == "hash"
    assert values_equal(pa.array([[1, 2], [3]]), pa.array([[1, 2], [3, 4]], pa.list_(pa.int32())),
                        lists, 0.0).tolist() == [True, False]
    assert plan_feature("t", pa.timestamp("s"), pa.timestamp("ms")).mode == "type_mismatch"
    assert plan_feature("z", pa.null(), pa.string()).mode == "one_sided"


@pytest.mark.unit
def test_component_checks_channel_types():
    from gristmill.components import CsvExampleGen, StatisticsGen

    gen = CsvExampleGen(input_base="/x")
    config = ExampleDiffConfig(paired_example_skew=PairedExampleSkew(identifier_features=["id"]))
    diff = ExampleDiff(examples=gen.outputs["examples"], baseline_examples=gen.outputs["examples"],
                       config=config)
    assert diff.outputs["example_diff_result"].type is ExamplesDiff
    stats = StatisticsGen(examples=gen.outputs["examples"])
    with pytest.raises(ConfigError, match=r"baseline_examples=.*expected an Examples channel"):
        ExampleDiff(examples=gen.outputs["examples"], baseline_examples=stats.outputs[
            "statistics"], config=config)
    with pytest.raises(ConfigError, match="identifier_features"):
        ExampleDiff(examples=gen.outputs["examples"], baseline_examples=gen.outputs["examples"],
                    config={"paired_example_skew": {"identifier_features": []}})
