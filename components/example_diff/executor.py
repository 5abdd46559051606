"""ExampleDiff: feature-level skew between paired rows of two Examples artifacts.

Rows of ``examples`` (test) and ``baseline_examples`` (base) are joined on identifier features
and every other feature is compared pair by pair (TFDV's feature skew detector). Per split
pair it writes ``SplitPair-<test>_<base>/diff.json`` (:class:`SplitPairDiff`) and sets the
property ``split_pairs``; ``report.html`` goes to the component's MLflow run. The pairing runs
on Beam (:mod:`gristmill.components.example_diff.beam_pipeline`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from gristmill.components.example_diff.config import ExampleDiffParameters
from gristmill.components.example_diff.model import (
    SplitPairDiff,
    load_diff,
    render_diff_report,
    split_pair_name,
    split_pair_uri,
)
from gristmill.components.framework.executor import BaseExecutor
from gristmill.metadata.errors import ConfigError, DataError, did_you_mean
from gristmill.metadata.standard_artifacts import Examples, ExamplesDiff

REPORT_FILE = "report.html"
#: Rows (both datasets together) per shard of the pairing shuffle when num_shards is unset.
ROWS_PER_SHARD = 200_000


@dataclass(frozen=True)
class FeaturePlan:
    """How one column is compared: its type on each side and the comparison ``mode``.

    ``mode`` is ``float`` (NaN equals NaN, optional relative tolerance), ``exact``
    (``pyarrow.compute.equal`` after casting both sides to ``cast``), ``hash`` (lists and
    structs: equal value hashes), ``type_mismatch`` or ``one_sided`` (a column absent or
    all-null on one side: only presence is counted).
    """

    name: str
    base_type: pa.DataType | None
    test_type: pa.DataType | None
    mode: str
    cast: pa.DataType | None = None


@dataclass(frozen=True)
class PairPlan:
    """Everything the pipeline needs for one (test split, base split) pair."""

    test_split: str
    base_split: str
    base_tasks: list[tuple[str, int]]
    test_tasks: list[tuple[str, int]]
    base_schema: pa.Schema
    test_schema: pa.Schema
    identifiers: list[str]
    ignored: list[str]
    features: list[FeaturePlan]
    allow_duplicates: bool
    float_tolerance: float
    sample_size: int
    num_shards: int
    output_dir: str


def type_kind(t: pa.DataType) -> str:
    """The comparison family of an Arrow type; columns compare only within one family."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    checks = [("null", pa.types.is_null), ("boolean", pa.types.is_boolean),
              ("integer", pa.types.is_integer), ("floating", pa.types.is_floating),
              ("string", lambda x: pa.types.is_string(x) or pa.types.is_large_string(x)
               or pa.types.is_string_view(x)),
              ("binary", lambda x: pa.types.is_binary(x) or pa.types.is_large_binary(x)
               or pa.types.is_binary_view(x) or pa.types.is_fixed_size_binary(x)),
              ("list", lambda x: pa.types.is_list(x) or pa.types.is_large_list(x)
               or pa.types.is_fixed_size_list(x)), ("struct", pa.types.is_struct)]
    for kind, check in checks:
        if check(t):
            return kind
    return str(t)


_COMMON = {"integer": pa.int64(), "string": pa.large_string(), "binary": pa.large_binary(),
           "boolean": pa.bool_()}


def plan_feature(name: str, base_type: pa.DataType | None,
                 test_type: pa.DataType | None) -> FeaturePlan:
    """Decide how column ``name`` is compared from its type on each side."""
    kinds = {type_kind(t) for t in (base_type, test_type) if t is not None}
    if base_type is None or test_type is None or "null" in kinds:
        return FeaturePlan(name, base_type, test_type, "one_sided")
    if len(kinds) > 1:
        return FeaturePlan(name, base_type, test_type, "type_mismatch")
    kind = kinds.pop()
    if kind == "floating":
        return FeaturePlan(name, base_type, test_type, "float")
    if kind in ("list", "struct"):
        return FeaturePlan(name, base_type, test_type, "hash")
    cast = None if base_type == test_type else _COMMON.get(kind)
    if base_type != test_type and cast is None:  # e.g. timestamp[s] vs timestamp[ms]
        return FeaturePlan(name, base_type, test_type, "type_mismatch")
    return FeaturePlan(name, base_type, test_type, "exact", cast)


def _split_pairs(examples: Examples, baseline: Examples,
                 include: list[tuple[str, str]] | None) -> list[tuple[str, str]]:
    if include is None:
        pairs = [(s, s) for s in examples.splits if s in baseline.splits]
        if not pairs:
            raise ConfigError(f"ExampleDiff: examples {examples.uri} (splits {examples.splits}) "
                              f"and baseline_examples {baseline.uri} (splits "
                              f"{baseline.splits}) share no split name.",
                              fix="pass include_split_pairs=[(test_split, base_split), ...]")
        return pairs
    for test, base in include:
        for split, artifact, role in ((test, examples, "examples"),
                                      (base, baseline, "baseline_examples")):
            if split not in artifact.splits:
                raise ConfigError(
                    f"ExampleDiff: include_split_pairs names split {split!r}, which {role} "
                    f"{artifact.uri} does not have (splits: {artifact.splits})."
                    f"{did_you_mean(split, artifact.splits)}", fix="use one of those splits")
    pairs = list(dict.fromkeys(include))
    names = [split_pair_name(t, b) for t, b in pairs]
    if len(set(names)) < len(names):
        raise ConfigError(f"ExampleDiff: split pairs {pairs} give clashing output directories "
                          f"{names}.", fix="diff the clashing pairs in separate components")
    return pairs


def _read_side(artifact: Examples, split: str, role: str, identifiers: list[str]):
    """Row-group tasks, row count and schema of one split; checks the identifiers."""
    from gristmill.components.beam.parquet_source import parquet_files

    files = parquet_files(artifact.split_uri(split))
    if not files:
        raise DataError(f"ExampleDiff: split {split!r} of {role} {artifact.uri} has no Parquet "
                        "files.", uri=artifact.split_uri(split),
                        fix="check the Examples artifact or choose other include_split_pairs")
    tasks, rows = [], 0
    for path in files:
        metadata = pq.ParquetFile(path).metadata
        rows += metadata.num_rows
        tasks.extend((path, i) for i in range(metadata.num_row_groups))
    schema = pq.read_schema(files[0]).remove_metadata()
    for name in identifiers:
        if name not in schema.names:
            raise ConfigError(
                f"ExampleDiff: identifier feature {name!r} is not a column of split {split!r} "
                f"of {role} {artifact.uri} (columns: {schema.names})."
                f"{did_you_mean(name, schema.names)}",
                fix="set identifier_features to columns present in both datasets")
    return tasks, rows, schema


def _plan_pair(examples: Examples, baseline: Examples, test: str, base: str,
               params: ExampleDiffParameters, output_uri: str) -> PairPlan:
    skew = params.config.paired_example_skew
    ids = list(skew.identifier_features)
    test_tasks, test_rows, test_schema = _read_side(examples, test, "examples", ids)
    base_tasks, base_rows, base_schema = _read_side(baseline, base, "baseline_examples", ids)
    for name in ids:
        kinds = type_kind(base_schema.field(name).type), type_kind(test_schema.field(name).type)
        if kinds[0] != kinds[1]:
            raise ConfigError(
                f"ExampleDiff: identifier feature {name!r} is {base_schema.field(name).type} in "
                f"baseline_examples {baseline.uri} but {test_schema.field(name).type} in "
                f"examples {examples.uri}; no pair could ever match.",
                fix="cast the identifier to one type in both datasets")
    skipped = set(ids) | set(skew.ignore_features)
    names = [n for n in dict.fromkeys(base_schema.names + test_schema.names) if n not in skipped]
    features = [plan_feature(n, _type(base_schema, n), _type(test_schema, n)) for n in names]
    shards = params.num_shards or max(1, math.ceil((base_rows + test_rows) / ROWS_PER_SHARD))
    return PairPlan(
        test_split=test, base_split=base, base_tasks=base_tasks, test_tasks=test_tasks,
        base_schema=_select(base_schema, ids + names),
        test_schema=_select(test_schema, ids + names),
        identifiers=ids, ignored=sorted(set(skew.ignore_features) - set(ids)), features=features,
        allow_duplicates=skew.allow_duplicate_identifiers, float_tolerance=skew.float_tolerance,
        sample_size=skew.skew_sample_size, num_shards=shards,
        output_dir=split_pair_uri(output_uri, test, base))


def _type(schema: pa.Schema, name: str) -> pa.DataType | None:
    return schema.field(name).type if name in schema.names else None


def _select(schema: pa.Schema, names: list[str]) -> pa.Schema:
    return pa.schema([schema.field(n) for n in names if n in schema.names])


class ExampleDiffExecutor(BaseExecutor):
    """Diffs every split pair in one Beam pipeline, then writes the report."""

    def Do(self, input_dict, output_dict, exec_properties: ExampleDiffParameters) -> None:
        from gristmill.components.example_diff.beam_pipeline import run_example_diff_pipeline

        examples = input_dict["examples"][0]
        baseline = input_dict["baseline_examples"][0]
        output = output_dict["example_diff_result"][0]
        pairs = _split_pairs(examples, baseline, exec_properties.include_split_pairs)
        plans = [_plan_pair(examples, baseline, test, base, exec_properties, output.uri)
                 for test, base in pairs]
        run_example_diff_pipeline(plans, self.context.beam_pipeline_args)
        diffs = [load_diff(plan.output_dir) for plan in plans]
        output.set_property("split_pairs", [[test, base] for test, base in pairs])
        self._report(output, diffs)

    def _report(self, output: ExamplesDiff, diffs: list[SplitPairDiff]) -> None:
        path = os.path.join(output.uri, REPORT_FILE)
        with open(path, "w") as f:
            f.write(render_diff_report(diffs, f"Example diff: {self.context.component_id}"))
        self.context.attach_report(path)
        metrics = {}
        for diff in diffs:
            stats = diff.match_stats
            metrics.update({f"{diff.pair_name}_pairs": stats.pairs,
                            f"{diff.pair_name}_pairs_with_diff": stats.pairs_with_diff,
                            f"{diff.pair_name}_features_with_diff": len(diff.features_with_diff)})
        self.context.log_metrics({k: float(v) for k, v in metrics.items()})
