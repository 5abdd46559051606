"""The Beam pipeline of ExampleDiff: pair rows of two datasets on identifiers, compare features.

Each side's Parquet row groups are read as Arrow record batches. Every row gets the
:func:`~gristmill.components.beam.hashing.hash_rows` hash of its identifier features, and each
batch is cut into one sub-batch per shard (``hash % num_shards``). ``CoGroupByKey`` on the
shard brings every row of an identifier, from both datasets, to one worker (the shuffle), so a
worker holds one shard, never the whole dataset. There rows are paired with an Arrow hash join
on the identifier hash, and each feature is compared over all pairs at once. Partial results
(counts and bottom-k samples by identifier hash) are merged by a ``CombineFn`` and written as
``diff.json``.

Pairing is on the 64-bit identifier hash: two different identifiers are merged with
probability about ``n**2 / 2**65`` (1e-8 for 600 million rows).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gristmill.components.beam import arrow_coder  # noqa: F401  (registers the batch coder)
from gristmill.components.beam.hashing import hash_array, hash_rows
from gristmill.components.beam.pipeline import make_beam_pipeline
from gristmill.components.example_diff.executor import FeaturePlan, PairPlan
from gristmill.components.example_diff.model import (
    FeatureDiff,
    MatchStats,
    SkewSample,
    SplitPairDiff,
    jsonable,
    save_diff,
)
from gristmill.metadata.errors import DataError

ID_COLUMN = "__gristmill_identifier_hash__"
_COUNTS = ("base_count", "test_count", "match_count", "mismatch_count", "base_only", "test_only")


class ReadKeyedBatches(beam.DoFn):
    """``(path, row_group)`` -> ``(shard, RecordBatch)`` per shard present in each batch.

    Rows with a null identifier are not keyed; their count goes to the ``counts`` output.
    """

    def __init__(self, side: str, schema: pa.Schema, identifiers: list[str], num_shards: int,
                 batch_size: int = 65_536):
        self.side = side
        self.schema = schema
        self.identifiers = identifiers
        self.num_shards = num_shards
        self.batch_size = batch_size

    def process(self, task):
        path, row_group = task
        try:
            batches = pq.ParquetFile(path).iter_batches(
                batch_size=self.batch_size, row_groups=[row_group], columns=self.schema.names)
            for batch in batches:
                yield from self._key(batch, path)
        except OSError as e:
            raise DataError(f"ExampleDiff: cannot read row group {row_group} of {path}: {e}.",
                            uri=path, fix="regenerate the Examples artifact") from e

    def _key(self, batch: pa.RecordBatch, path: str):
        if batch.schema != self.schema:
            try:
                batch = batch.cast(self.schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as e:
                raise DataError(f"ExampleDiff: {path} has schema {batch.schema}, expected the "
                                f"split's {self.schema}: {e}.", uri=path,
                                fix="write every file of a split with one schema") from e
        valid = np.ones(batch.num_rows, dtype=bool)
        for name in self.identifiers:
            column = batch.column(name)
            if column.null_count:
                valid &= column.is_valid().to_numpy(zero_copy_only=False)
        missing = int(batch.num_rows - valid.sum())
        yield beam.pvalue.TaggedOutput("counts", DiffAccumulator(stats=Counter(
            {f"{self.side}_rows": batch.num_rows, f"{self.side}_missing_id_rows": missing})))
        if missing:
            batch = batch.filter(pa.array(valid))
        ids = hash_rows(batch, self.identifiers)
        batch = batch.append_column(ID_COLUMN, pa.array(ids, pa.uint64()))
        shards = ids % np.uint64(self.num_shards)
        order = np.argsort(shards, kind="stable")
        starts = np.flatnonzero(np.diff(shards[order], prepend=np.uint64(self.num_shards)))
        for begin, end in zip(starts, [*starts[1:], len(order)], strict=True):
            yield int(shards[order[begin]]), batch.take(pa.array(order[begin:end]))


@dataclass
class DiffAccumulator:
    """Partial ExampleDiff result: match counters, per-feature counts and sample candidates.

    ``samples`` maps a feature to ``(sort key, SkewSample fields)`` tuples; merging keeps the
    ``sample_size`` smallest keys, so the chosen samples do not depend on sharding or order.
    """

    stats: Counter = field(default_factory=Counter)
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    samples: dict[str, list[tuple]] = field(default_factory=dict)

    def merge(self, other: DiffAccumulator, sample_size: int) -> None:
        """Add ``other`` into this accumulator."""
        self.stats.update(other.stats)
        for name, counts in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + counts
        for name, samples in other.samples.items():
            self.samples[name] = sorted([*self.samples.get(name, []), *samples])[:sample_size]


def _index_pairs(base_ids: np.ndarray, test_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of every (base, test) pair of equal ids, ordered by (id, base, test)."""
    left = pa.table({"k": base_ids, "b": np.arange(len(base_ids))})
    right = pa.table({"k": test_ids, "t": np.arange(len(test_ids))})
    joined = left.join(right, "k", join_type="inner")
    joined = joined.sort_by([("k", "ascending"), ("b", "ascending"), ("t", "ascending")])
    return (joined.column("b").to_numpy().astype(np.int64),
            joined.column("t").to_numpy().astype(np.int64))


def pair_rows(base_ids: np.ndarray, test_ids: np.ndarray, allow_duplicates: bool
              ) -> tuple[np.ndarray, np.ndarray, Counter]:
    """Pair base and test rows of one shard by identifier hash.

    Returns:
        Base row indices, test row indices (one entry per pair) and the match counters.
    """
    stats: Counter = Counter()
    base_unique, base_counts = np.unique(base_ids, return_counts=True)
    test_unique, test_counts = np.unique(test_ids, return_counts=True)
    stats["identifiers"] = len(np.union1d(base_unique, test_unique))
    base_dups, test_dups = base_unique[base_counts > 1], test_unique[test_counts > 1]
    stats["base_duplicate_ids"], stats["test_duplicate_ids"] = len(base_dups), len(test_dups)
    stats["base_duplicate_id_rows"] = int(base_counts[base_counts > 1].sum())
    stats["test_duplicate_id_rows"] = int(test_counts[test_counts > 1].sum())
    base_keep = np.ones(len(base_ids), dtype=bool)
    test_keep = np.ones(len(test_ids), dtype=bool)
    if not allow_duplicates:
        duplicated = np.union1d(base_dups, test_dups)
        base_keep, test_keep = ~np.isin(base_ids, duplicated), ~np.isin(test_ids, duplicated)
        stats["base_excluded_duplicate_rows"] = int((~base_keep).sum())
        stats["test_excluded_duplicate_rows"] = int((~test_keep).sum())
    base_paired = base_keep & np.isin(base_ids, test_ids[test_keep])
    test_paired = test_keep & np.isin(test_ids, base_ids[base_keep])
    stats["base_unpaired_rows"] = int((base_keep & ~base_paired).sum())
    stats["test_unpaired_rows"] = int((test_keep & ~test_paired).sum())
    stats["ids_only_in_base"] = len(np.unique(base_ids[base_keep & ~base_paired]))
    stats["ids_only_in_test"] = len(np.unique(test_ids[test_keep & ~test_paired]))
    stats["base_paired_rows"], stats["test_paired_rows"] = base_paired.sum(), test_paired.sum()
    base_rows, test_rows = np.flatnonzero(base_paired), np.flatnonzero(test_paired)
    b, t = _index_pairs(base_ids[base_rows], test_ids[test_rows])
    stats["pairs"] = len(b)
    return base_rows[b], test_rows[t], stats


def _present(column: pa.Array | None, n: int) -> np.ndarray:
    if column is None or pa.types.is_null(column.type):
        return np.zeros(n, dtype=bool)
    if not column.null_count:
        return np.ones(n, dtype=bool)
    return column.is_valid().to_numpy(zero_copy_only=False)


def _floats(column: pa.Array) -> np.ndarray:
    return pc.cast(column, pa.float64()).fill_null(math.nan).to_numpy(zero_copy_only=False)


def values_equal(base: pa.Array, test: pa.Array, plan: FeaturePlan, tolerance: float
                 ) -> np.ndarray:
    """Per pair: are the two values equal under ``plan.mode``? (Nulls compare unequal.)"""
    if plan.mode == "float":
        a, b = _floats(base), _floats(test)
        with np.errstate(invalid="ignore", over="ignore"):
            equal = (a == b) | (np.isnan(a) & np.isnan(b))
            if tolerance:
                equal |= np.abs(a - b) <= tolerance * np.maximum(np.abs(a), np.abs(b))
        return equal
    if plan.mode == "hash":
        return hash_array(base) == hash_array(test)
    if plan.mode == "exact":
        if pa.types.is_dictionary(base.type):
            base = base.dictionary_decode()
        if pa.types.is_dictionary(test.type):
            test = test.dictionary_decode()
        if plan.cast is not None:
            base, test = pc.cast(base, plan.cast), pc.cast(test, plan.cast)
        return pc.equal(base, test).fill_null(False).to_numpy(zero_copy_only=False)
    return np.zeros(len(base), dtype=bool)


def _column(table: pa.Table, name: str) -> pa.Array | None:
    if name not in table.column_names:
        return None
    return table.column(name).combine_chunks()


def _samples(rows: np.ndarray, ids: np.ndarray, kinds: np.ndarray, pairs: tuple[pa.Table, ...],
             columns: tuple[pa.Array | None, ...], plan: PairPlan) -> list[tuple]:
    """Sample candidates of one feature: the differing pairs with the smallest id hashes."""
    k = plan.sample_size
    if len(rows) > k:  # keep ties at the cut-off so the final pick never depends on order
        cutoff = np.partition(ids[rows], k - 1)[k - 1]
        rows = rows[ids[rows] <= cutoff]
    taken = pa.array(rows)
    id_values = {name: pairs[0].column(name).take(taken).to_pylist() for name in plan.identifiers}
    values = [column.take(taken).to_pylist() if column is not None else [None] * len(rows)
              for column in columns]
    out = []
    for i, row in enumerate(rows):
        sample = {"kind": str(kinds[row]),
                  "identifiers": {name: jsonable(v[i]) for name, v in id_values.items()},
                  "base": jsonable(values[0][i]), "test": jsonable(values[1][i])}
        out.append(((int(ids[row]), json.dumps(sample, sort_keys=True)), sample))
    return sorted(out)[:k]


def _compare_feature(acc: DiffAccumulator, feature: FeaturePlan, pairs: tuple[pa.Table, ...],
                     ids: np.ndarray, plan: PairPlan) -> np.ndarray:
    """Count one feature over all pairs of a shard; return the mask of differing pairs."""
    n = len(ids)
    columns = (_column(pairs[0], feature.name), _column(pairs[1], feature.name))
    base_present, test_present = _present(columns[0], n), _present(columns[1], n)
    both = base_present & test_present
    equal = np.zeros(n, dtype=bool)
    if both.any():
        equal = values_equal(columns[0], columns[1], feature, plan.float_tolerance) & both
    mismatch = both & ~equal
    base_only, test_only = base_present & ~test_present, test_present & ~base_present
    acc.counts[feature.name] = np.array(
        [base_present.sum(), test_present.sum(), equal.sum(), mismatch.sum(), base_only.sum(),
         test_only.sum()], dtype=np.int64)
    differs = mismatch | base_only | test_only
    if plan.sample_size and differs.any():
        kinds = np.where(mismatch, "mismatch", np.where(base_only, "base_only", "test_only"))
        acc.samples[feature.name] = _samples(np.flatnonzero(differs), ids, kinds, pairs,
                                             columns, plan)
    return differs


def compare_shard(base: pa.Table, test: pa.Table, plan: PairPlan) -> DiffAccumulator:
    """Pair the rows of one shard and compare every planned feature over the pairs."""
    base_ids = base.column(ID_COLUMN).to_numpy()
    test_ids = test.column(ID_COLUMN).to_numpy()
    base_rows, test_rows, stats = pair_rows(base_ids, test_ids, plan.allow_duplicates)
    acc = DiffAccumulator(stats=stats)
    pairs = (base.take(pa.array(base_rows)), test.take(pa.array(test_rows)))
    ids = base_ids[base_rows]
    differs = np.zeros(len(ids), dtype=bool)
    for feature in plan.features:
        differs |= _compare_feature(acc, feature, pairs, ids, plan)
    acc.stats["pairs_with_diff"] = int(differs.sum())
    return acc


def _table(batches, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_batches(list(batches), schema.append(pa.field(ID_COLUMN, pa.uint64())))


class CompareShards(beam.DoFn):
    """``(shard, {"base": batches, "test": batches})`` -> one :class:`DiffAccumulator`."""

    def __init__(self, plan: PairPlan):
        self.plan = plan

    def process(self, element):
        _, grouped = element
        yield compare_shard(_table(grouped["base"], self.plan.base_schema),
                            _table(grouped["test"], self.plan.test_schema), self.plan)


class DiffCombineFn(beam.CombineFn):
    """Merge :class:`DiffAccumulator` partials (counts add, samples keep the bottom k)."""

    def __init__(self, sample_size: int):
        self.sample_size = sample_size

    def create_accumulator(self) -> DiffAccumulator:
        return DiffAccumulator()

    def add_input(self, acc: DiffAccumulator, partial: DiffAccumulator) -> DiffAccumulator:
        acc.merge(partial, self.sample_size)
        return acc

    def merge_accumulators(self, accumulators) -> DiffAccumulator:
        accumulators = iter(accumulators)
        merged = next(accumulators)
        for acc in accumulators:
            merged.merge(acc, self.sample_size)
        return merged

    def extract_output(self, acc: DiffAccumulator) -> DiffAccumulator:
        return acc


def build_diff(acc: DiffAccumulator, plan: PairPlan) -> SplitPairDiff:
    """The :class:`SplitPairDiff` of a fully merged accumulator."""
    features = []
    for feature in plan.features:
        counts = dict(zip(_COUNTS, (int(c) for c in acc.counts.get(
            feature.name, np.zeros(len(_COUNTS), dtype=np.int64))), strict=True))
        features.append(FeatureDiff(
            name=feature.name, type_mismatch=feature.mode == "type_mismatch",
            base_type=None if feature.base_type is None else str(feature.base_type),
            test_type=None if feature.test_type is None else str(feature.test_type),
            diff_count=counts["mismatch_count"] + counts["base_only"] + counts["test_only"],
            samples=[SkewSample(**s) for _, s in acc.samples.get(feature.name, [])], **counts))
    return SplitPairDiff(
        test_split=plan.test_split, base_split=plan.base_split,
        identifier_features=plan.identifiers, ignored_features=plan.ignored,
        allow_duplicate_identifiers=plan.allow_duplicates, float_tolerance=plan.float_tolerance,
        match_stats=MatchStats(**{k: int(v) for k, v in acc.stats.items()}), features=features)


def _write_diff(acc: DiffAccumulator, plan: PairPlan) -> str:
    return save_diff(build_diff(acc, plan), plan.output_dir)


def run_example_diff_pipeline(plans: list[PairPlan], beam_args: list[str]) -> None:
    """One Beam pipeline diffing every split pair and writing each ``diff.json``.

    Args:
        plans: One :class:`PairPlan` per split pair.
        beam_args: The component's Beam pipeline args.
    """
    with make_beam_pipeline(beam_args) as pipeline:
        for plan in plans:
            label = f"{plan.test_split}_{plan.base_split}"
            keyed, counts = {}, []
            for side, tasks, schema in (("base", plan.base_tasks, plan.base_schema),
                                        ("test", plan.test_tasks, plan.test_schema)):
                read = (pipeline
                        | f"RowGroups[{side}:{label}]" >> beam.Create(tasks)
                        | f"Read[{side}:{label}]" >> beam.ParDo(ReadKeyedBatches(
                            side, schema, plan.identifiers, plan.num_shards))
                        .with_output_types(tuple[int, pa.RecordBatch])
                        .with_outputs("counts", main="batches"))
                keyed[side] = read.batches
                counts.append(read.counts)
            partials = (keyed
                        | f"Pair[{label}]" >> beam.CoGroupByKey()
                        | f"Compare[{label}]" >> beam.ParDo(CompareShards(plan)))
            _ = ((partials, *counts)
                 | f"Partials[{label}]" >> beam.Flatten()
                 | f"Merge[{label}]" >> beam.CombineGlobally(DiffCombineFn(plan.sample_size))
                 | f"Write[{label}]" >> beam.Map(_write_diff, plan))
