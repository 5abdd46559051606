"""Reading Examples row groups and writing transformed Parquet, as Beam DoFns.

Work is split by Parquet row group, so Beam can spread it over workers and memory stays at
one record batch. Applying writes one output file per input row group with a deterministic
name, so a retried bundle overwrites instead of duplicating rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from gristmill.components.beam import arrow_coder  # noqa: F401  (registers the batch coder)
from gristmill.components.beam.hashing import hash_bytes
from gristmill.components.framework.row_progress import RowCounter
from gristmill.components.transform.analysis import AnalyzerSet, merge_into
from gristmill.components.transform.files import (  # noqa: F401  (also this module's API)
    arrow_schema,
    parquet_files,
    row_group_tasks,
    written_rows,
)
from gristmill.engine.transform_fn import FittedTransform
from gristmill.metadata.errors import DataError

DEFAULT_BATCH_ROWS = 65_536
#: Tag of :class:`TransformRowGroup`'s output of transformed batches.
BATCHES = "batches"


def _iter_batches(path: str, row_group: int, columns: list[str] | None, batch_rows: int):
    try:
        reader = pq.ParquetFile(path)
        if reader.metadata.num_row_groups == 0:
            return
        yield from reader.iter_batches(batch_size=batch_rows, row_groups=[row_group],
                                       columns=columns)
    except OSError as e:
        raise DataError(f"Transform: cannot read row group {row_group} of {path}: {e}.",
                        uri=path, fix="regenerate the Examples artifact") from e


class ReadBatches(beam.DoFn):
    """``(path, row group)`` -> record batches of the given columns."""

    def __init__(self, columns: list[str] | None, batch_rows: int = DEFAULT_BATCH_ROWS):
        self.columns = columns
        self.batch_rows = batch_rows

    def process(self, task: tuple[str, int]):
        path, row_group = task
        yield from _iter_batches(path, row_group, self.columns, self.batch_rows)


class TransformRowGroup(beam.DoFn):
    """Apply the fitted plan (a side input) to one row group and write it as Parquet.

    Yields ``(output file, rows written)``; with a ``stats_key`` also the transformed
    batches as ``(stats_key, (seed, RecordBatch))`` on the :data:`BATCHES` output (for
    post-transform statistics; the seed makes their sampling deterministic).

    Args:
        out_dir: The output split directory, or ``None`` to write nothing.
        prefix: File name prefix, unique per input artifact.
        columns: Raw columns to read (those the plan uses).
        batch_rows: Rows per record batch.
        stats_key: Emit the transformed batches under this statistics job key.
    """

    def __init__(self, out_dir: str | None, prefix: str, columns: list[str] | None,
                 batch_rows: int = DEFAULT_BATCH_ROWS, stats_key: str | None = None):
        self.out_dir, self.prefix = out_dir, prefix
        self.columns, self.batch_rows = columns, batch_rows
        self.stats_key = stats_key
        self._fitted: tuple[int, FittedTransform] | None = None
        self.progress = RowCounter()

    def _transform(self, fitted_plan: tuple[dict, dict]) -> FittedTransform:
        if self._fitted is None or self._fitted[0] != id(fitted_plan):
            plan, vocabs = fitted_plan
            self._fitted = (id(fitted_plan), FittedTransform(plan, vocabs, source="Transform"))
        return self._fitted[1]

    def process(self, task: tuple[int, str, int], fitted_plan: tuple[dict, dict]):
        file_index, path, row_group = task
        ft = self._transform(fitted_plan)
        name = f"part-{self.prefix}{file_index:04d}-{row_group:05d}.parquet"
        out = os.path.join(self.out_dir, name) if self.out_dir is not None else None
        writer, rows = None, 0
        try:
            for index, batch in enumerate(_iter_batches(path, row_group, self.columns,
                                                        self.batch_rows)):
                table = ft.transform(batch)
                if out is not None:
                    writer = writer or pq.ParquetWriter(out, table.schema)
                    writer.write_table(table)
                rows += table.num_rows
                self.progress.add(table.num_rows)
                if self.stats_key is not None:
                    seed = int(hash_bytes(f"{name}:{index}") >> 2)
                    for chunk, part in enumerate(table.to_batches()):
                        yield beam.pvalue.TaggedOutput(
                            BATCHES, (self.stats_key, (seed + chunk, part)))
            if writer is None and out is not None:  # an empty row group: a file with the schema
                empty = pq.read_schema(path).empty_table()
                if self.columns is not None:
                    empty = empty.select([c for c in self.columns if c in empty.column_names])
                pq.write_table(ft.transform(empty), out)
        finally:
            if writer is not None:
                writer.close()
        if out is not None:
            yield out, rows


def raw_columns(plan: dict[str, Any]) -> list[str]:
    """Raw columns a plan reads."""
    return [f["name"] for f in plan["raw_features"]]


class AnalyzeCombineFn(beam.CombineFn):
    """All accumulators of one analysis pass as a single Beam combine over record batches."""

    def __init__(self, analyzer_set: AnalyzerSet):
        self.analyzer_set = analyzer_set

    def create_accumulator(self) -> dict[str, Any]:
        return self.analyzer_set.create()

    def add_input(self, accs: dict[str, Any], table: pa.Table) -> dict[str, Any]:
        return self.analyzer_set.add(accs, table)

    def merge_accumulators(self, accumulators: Iterable[dict[str, Any]]) -> dict[str, Any]:
        it = iter(accumulators)
        merged = next(it)
        for accs in it:
            merge_into(merged, accs)
        return merged

    def extract_output(self, accs: dict[str, Any]) -> dict[str, Any]:
        return accs


class MergeAccumulatorsFn(beam.CombineFn):
    """Merge accumulator dicts (of several spans, cached or computed) into one."""

    def create_accumulator(self) -> dict[str, Any]:
        return {}

    def add_input(self, merged: dict[str, Any], accs: dict[str, Any]) -> dict[str, Any]:
        return merge_into(merged, accs)

    def merge_accumulators(self, accumulators: Iterable[dict[str, Any]]) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for accs in accumulators:
            merge_into(merged, accs)
        return merged

    def extract_output(self, merged: dict[str, Any]) -> dict[str, Any]:
        return merged
