"""ExampleGen: input resolution, configs, stable hash splits, readers and bad records."""

from __future__ import annotations

import datetime
import json
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.components.beam.hashing import hash_array, hash_rows
from gristmill.components.example_gen.beam_pipeline import Routing, assign_buckets
from gristmill.components.example_gen.config import (
    Input,
    Output,
    RangeConfig,
    RollingRange,
    SplitConfig,
    SplitPattern,
    SplitSpec,
    StaticRange,
)
from gristmill.components.example_gen.inputs import pattern_parts, resolve_input
from gristmill.components.framework.executor import ExecutionContext
from gristmill.metadata.errors import ConfigError, DataError
from gristmill.metadata.standard_artifacts import Examples


def _touch(base, rel, text="a\n1\n"):
    path = os.path.join(base, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def _run(component_cls, tmp_path, beam_args=(), name="examples", **params):
    component = component_cls(**params)
    output = Examples(str(tmp_path / name))
    os.makedirs(output.uri)
    context = ExecutionContext(component_id=component_cls.__name__, tmp_dir=str(tmp_path),
                               beam_pipeline_args=list(beam_args))
    component_cls.EXECUTOR(context).Do({}, {"examples": [output]}, component.parameters)
    return output


def _read_split(output, split):
    return pq.read_table(output.split_uri(split))


def _csv(path, rows):
    lines = ["id,amount,city"] + [f"{i},{i * 0.5},{'abc'[i % 3]}" for i in range(rows)]
    _touch(os.path.dirname(path), os.path.basename(path), "\n".join(lines) + "\n")


# --- input resolution --------------------------------------------------------------------

@pytest.mark.unit
def test_latest_span_and_version_are_picked(tmp_path):
    for rel in ["span-1/v1/a.csv", "span-2/v1/a.csv", "span-2/v2/a.csv", "span-2/v2/b.csv"]:
        _touch(tmp_path, rel)
    resolved = resolve_input(str(tmp_path), Input(splits=[SplitPattern(
        name="all", pattern="span-{SPAN}/v{VERSION}/*.csv")]))
    assert (resolved.span, resolved.version) == (2, 2)
    assert [os.path.relpath(p, tmp_path) for p in resolved.files["all"]] == \
        ["span-2/v2/a.csv", "span-2/v2/b.csv"]


@pytest.mark.unit
def test_range_configs_select_spans(tmp_path):
    for span in range(1, 6):
        _touch(tmp_path, f"span-{span:02d}/data.csv")
    config = Input(splits=[SplitPattern(name="all", pattern="span-{SPAN:2}/*.csv")])
    static = RangeConfig(static_range=StaticRange(start_span_number=2, end_span_number=3))
    assert resolve_input(str(tmp_path), config, static).spans == [2, 3]
    rolling = RangeConfig(rolling_range=RollingRange(num_spans=2))
    resolved = resolve_input(str(tmp_path), config, rolling)
    assert (resolved.spans, resolved.span) == ([4, 5], 5)
    with pytest.raises(DataError, match="no span"):
        resolve_input(str(tmp_path), config, RangeConfig(
            static_range=StaticRange(start_span_number=7, end_span_number=9)))


@pytest.mark.unit
def test_date_pattern_span_is_days_since_epoch(tmp_path):
    _touch(tmp_path, "2024-01-02/data.csv")
    _touch(tmp_path, "2024-01-03/data.csv")
    resolved = resolve_input(str(tmp_path), Input(splits=[SplitPattern(
        name="all", pattern="{YYYY}-{MM}-{DD}/*.csv")]))
    assert resolved.span == 19725  # 2024-01-03
    with pytest.raises(ConfigError, match="mixes"):
        pattern_parts("{SPAN}/{YYYY}{MM}{DD}/*.csv")


@pytest.mark.unit
def test_fingerprint_changes_when_files_change_and_missing_input_is_named(tmp_path):
    _touch(tmp_path, "a.csv")
    config = Input(splits=[SplitPattern(name="all", pattern="*.csv")])
    first = resolve_input(str(tmp_path), config).fingerprint
    assert resolve_input(str(tmp_path), config).fingerprint == first
    _touch(tmp_path, "b.csv")
    assert resolve_input(str(tmp_path), config).fingerprint != first
    with pytest.raises(DataError, match=r"split 'x' \(pattern '\*.json'"):
        resolve_input(str(tmp_path), Input(splits=[SplitPattern(name="x", pattern="*.json")]))


@pytest.mark.unit
def test_configs_refuse_contradictions():
    with pytest.raises(ValueError, match="exactly one"):
        RangeConfig()
    with pytest.raises(ValueError, match="unique"):
        Input(splits=[SplitPattern(name="a", pattern="*"), SplitPattern(name="a", pattern="x")])
    with pytest.raises(ValueError, match="given twice"):
        Output(split_config=SplitConfig(splits=[SplitSpec(name="a", hash_buckets=1)],
                                        partition_feature_name="x"),
               partition_feature_name="y")


# --- stable hashing ----------------------------------------------------------------------

@pytest.mark.unit
def test_row_hash_is_stable_and_independent_of_chunking_and_column_order():
    batch = pa.record_batch({"id": pa.array([1, 2, None]), "name": pa.array(["a", "", None]),
                             "x": pa.array([0.5, -0.0, float("nan")])})
    hashes = hash_rows(batch)
    # A golden value: changes here would silently move rows between splits.
    # (Row hash v2 since 2026-11: one xor-multiply step per column instead of two mixes.)
    assert [int(h) for h in hashes] == [0x892593BD6375C919, 0x19547CB907572AED,
                                        0xADA38143D4A34531]
    reordered = batch.select(["x", "name", "id"])
    assert np.array_equal(hash_rows(reordered), hashes)
    assert np.array_equal(np.concatenate([hash_rows(batch.slice(0, 2)),
                                          hash_rows(batch.slice(2))]), hashes)
    assert len(set(hashes.tolist())) == 3
    # -0.0 and 0.0 are the same value
    zero = pa.record_batch({"x": pa.array([0.0, -0.0])})
    assert hash_rows(zero)[0] == hash_rows(zero)[1]


@pytest.mark.unit
def test_value_hash_is_pinned():
    # StatisticsGen's distinct counts and nested row hashes rest on these values.
    assert [int(h) for h in hash_array(pa.array([0.5, -0.0, float("nan"), None]))] == \
        [0xB8BBCB010D5173AC, 0xE220A8397B1DCDAF, 0x8709D8D19B4C0AC2, 0x6A09E667F3BCC909]
    assert [int(h) for h in hash_array(pa.array(["a", "", None]))] == \
        [0x37CE306F6C8D02B7, 0x86FA59FA943FE6F8, 0x6A09E667F3BCC909]
    floats = pa.array([1.5, -0.0, None], pa.float32())
    assert np.array_equal(hash_array(floats), hash_array(pa.array([1.5, 0.0, None])))


@pytest.mark.unit
@pytest.mark.parametrize("columns", [
    {"id": np.arange(30_000)},
    {"x": np.arange(30_000) * 0.5},  # floats differ only in high bits
    {"a": np.arange(30_000) % 100, "b": np.arange(30_000) // 100},
    {"x": np.arange(30_000) * (1 << 40)},
    {"t": np.arange(30_000).astype("datetime64[s]"), "flag": np.arange(30_000) % 2 == 0},
], ids=["int", "float", "two-ints", "high-bits", "timestamp+bool"])
def test_buckets_follow_the_configured_ratio(columns):
    batch = pa.record_batch(columns)
    index = assign_buckets(batch, Routing(splits=("train", "eval"), hash_buckets=(2, 1)))
    # 30,000 rows: one standard deviation of the train fraction is 0.0027
    assert abs((index == 0).mean() - 2 / 3) < 0.01
    assert set(np.unique(index)) == {0, 1}
    assert len(np.unique(hash_rows(batch))) == batch.num_rows


# --- executors ---------------------------------------------------------------------------

@pytest.mark.integration
def test_csv_example_gen_splits_2_to_1_and_keeps_types(tmp_path):
    from gristmill.components.example_gen.component import CsvExampleGen

    _csv(str(tmp_path / "in" / "data.csv"), 3000)
    output = _run(CsvExampleGen, tmp_path, input_base=str(tmp_path / "in"))
    counts = output.get_property("row_counts")
    assert output.splits == ["train", "eval"] and sum(counts.values()) == 3000
    assert abs(counts["train"] / 3000 - 2 / 3) < 0.04
    train = _read_split(output, "train")
    assert train.schema.field("id").type == pa.int64()
    assert train.schema.field("amount").type == pa.float64()
    assert train.schema.field("city").type == pa.string()
    assert train.num_rows == counts["train"]
    assert output.get_property("span") == 0 and len(output.get_property("input_fingerprint")) == 64


@pytest.mark.integration
@pytest.mark.slow
def test_split_assignment_is_identical_across_runs_and_runners(tmp_path):
    from gristmill.components.example_gen.component import CsvExampleGen

    _csv(str(tmp_path / "in" / "data.csv"), 2000)

    def ids(output, split):
        return sorted(_read_split(output, split).column("id").to_pylist())

    first = _run(CsvExampleGen, tmp_path, input_base=str(tmp_path / "in"), name="a")
    again = _run(CsvExampleGen, tmp_path, input_base=str(tmp_path / "in"), name="b")
    multi = _run(CsvExampleGen, tmp_path, ["--direct_num_workers=2",
                                           "--direct_running_mode=multi_processing"],
                 input_base=str(tmp_path / "in"), name="c")
    for split in ("train", "eval"):
        assert ids(first, split) == ids(again, split) == ids(multi, split)


BAD_CSV = "id,amount,city\n1,0.5,a\n2,1.5\n3,oops,c\n\n4,2.5,d\n5,3.5,e,extra\n"


@pytest.mark.integration
def test_bad_csv_rows_fail_with_file_line_and_reason(tmp_path):
    from gristmill.components.example_gen.component import CsvExampleGen

    _touch(tmp_path / "in", "bad.csv", BAD_CSV)
    with pytest.raises(DataError, match=r"3 bad record\(s\), first: bad.csv line 3: expected 3 "
                                        r"fields, got 2.*line 4: column 'amount': cannot parse "
                                        r"'oops'.*quarantine"):
        _run(CsvExampleGen, tmp_path, input_base=str(tmp_path / "in"),
             column_types={"amount": "float64"})


@pytest.mark.integration
def test_bad_csv_rows_are_quarantined_and_counted(tmp_path):
    from gristmill.components.example_gen.component import CsvExampleGen

    _touch(tmp_path / "in", "bad.csv", BAD_CSV)
    output = _run(CsvExampleGen, tmp_path, input_base=str(tmp_path / "in"),
                  column_types={"amount": "float64"}, on_bad_records="quarantine",
                  output_config=Output(split_config=SplitConfig(
                      splits=[SplitSpec(name="all", hash_buckets=1)])))
    assert output.get_custom_property("num_quarantined") == 3
    bad = pq.read_table(output.get_custom_property("quarantine_uri")).to_pylist()
    assert [(r["line"], r["text"]) for r in bad] == [(3, "2,1.5"), (4, "3,oops,c"),
                                                    (7, "5,3.5,e,extra")]
    assert sorted(_read_split(output, "all").column("id").to_pylist()) == [1, 4]


@pytest.mark.integration
def test_json_lines_with_a_bad_line_and_pre_split_input(tmp_path):
    from gristmill.components.example_gen.component import JsonExampleGen

    rows = [json.dumps({"id": i, "name": f"n{i}"}) for i in range(5)]
    _touch(tmp_path / "in", "train/a.jsonl", "\n".join(rows[:3] + ["{not json"]) + "\n")
    _touch(tmp_path / "in", "eval/a.jsonl", "\n".join(rows[3:]) + "\n")
    output = _run(JsonExampleGen, tmp_path, input_base=str(tmp_path / "in"),
                  on_bad_records="quarantine", input_config=Input(splits=[
                      SplitPattern(name="train", pattern="train/*.jsonl"),
                      SplitPattern(name="eval", pattern="eval/*.jsonl")]))
    assert output.get_property("row_counts") == {"train": 3, "eval": 2}
    assert output.get_custom_property("num_quarantined") == 1
    bad = pq.read_table(output.get_custom_property("quarantine_uri")).to_pylist()
    assert bad[0]["line"] == 4 and bad[0]["text"] == "{not json"


@pytest.mark.integration
def test_import_example_gen_partitions_by_feature_and_keeps_pandas_types(tmp_path):
    from gristmill.components.example_gen.component import ImportExampleGen

    frame = pd.DataFrame({"user": np.arange(600) % 40, "score": np.linspace(0, 1, 600),
                          "flag": np.arange(600) % 2 == 0})
    output = _run(ImportExampleGen, tmp_path, table=frame,
                  output_config=Output(partition_feature_name="user"))
    train, evaluation = _read_split(output, "train"), _read_split(output, "eval")
    assert train.num_rows + evaluation.num_rows == 600
    assert not set(train.column("user").to_pylist()) & set(evaluation.column("user").to_pylist())
    assert train.schema.field("flag").type == pa.bool_()
    assert len(output.get_property("input_fingerprint")) == 64


@pytest.mark.integration
def test_parquet_example_gen_reads_files(tmp_path):
    from gristmill.components.example_gen.component import ParquetExampleGen

    os.makedirs(tmp_path / "in")
    pq.write_table(pa.table({"x": np.arange(100), "s": ["a"] * 100}), tmp_path / "in" / "p.parquet")
    output = _run(ParquetExampleGen, tmp_path, input_base=str(tmp_path / "in"))
    assert sum(output.get_property("row_counts").values()) == 100


@pytest.mark.unit
def test_component_parameters_are_checked():
    from gristmill.components.example_gen.component import CsvExampleGen

    gen = CsvExampleGen(input_base="/data")
    assert gen.outputs["examples"].type is Examples
    with pytest.raises(ConfigError, match="unknown parameter 'input_bse'.*input_base"):
        CsvExampleGen(input_bse="/data")
    with pytest.raises(ConfigError, match="unknown Arrow type"):
        CsvExampleGen(input_base="/data", column_types={"x": "integer64"})


@pytest.mark.unit
def test_csv_reader_recovers_from_a_late_conversion_error_without_duplicates(tmp_path):
    from gristmill.components.example_gen.csv_reader import CsvOptions, read_csv

    lines = ["id,amount"] + [f"{i},{i}.5" for i in range(400)]
    lines[301] = "300,not-a-number"  # line 302, far past the first block
    lines[350] = "349"  # line 351: a missing field
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    schema = pa.schema([("id", pa.int64()), ("amount", pa.float64())])
    bad = []
    options = CsvOptions(block_size=256, chunk_bytes=512)
    batches = list(read_csv(str(path), schema, options, bad.append))
    ids = pa.Table.from_batches(batches).column("id").to_pylist()
    assert ids == [i for i in range(400) if i not in (300, 349)]
    assert [(b.line, b.text) for b in sorted(bad, key=lambda b: b.line)] == \
        [(302, "300,not-a-number"), (351, "349")]


@pytest.mark.unit
@pytest.mark.parametrize("array", [
    pa.array([datetime.date(2020, 1, d) for d in (1, 2, 1)], pa.date32()),
    pa.array([0, 86_400_000, 0], pa.date64()),
    pa.array([0, 60, 0], pa.time32("s")),
    pa.array([[("a", 1)], [("b", 2)], [("a", 1)]], pa.map_(pa.string(), pa.int64())),
    pa.array([[1, 2], [2, 1], [1, 2]], pa.list_(pa.int64(), 2)),
    pa.array([2**63, 2**64 - 1, 2**63], pa.uint64()),
    pa.array([{"a": 1}, {"a": 2}, {"a": 1}], pa.struct([("a", pa.int64())])),
], ids=["date32", "date64", "time32", "map", "fixed_size_list", "uint64_high", "struct"])
def test_every_arrow_type_hashes_stably_with_equal_values_alike(array):
    # Issue 14 item 14: these types crashed ExampleGen's split hashing.
    hashes = hash_array(array)
    assert hashes[0] == hashes[2] and hashes[0] != hashes[1]
    batch = pa.RecordBatch.from_arrays([array, pa.nulls(3)], ["x", "empty"])
    assert len(set(hash_rows(batch).tolist())) == 2


@pytest.mark.unit
def test_uint64_below_2_63_hashes_like_int64_so_existing_splits_do_not_move():
    values = [0, 5, 2**62]
    assert (hash_array(pa.array(values, pa.uint64())) ==
            hash_array(pa.array(values, pa.int64()))).all()
