"""The Beam pipeline of every ExampleGen: read batches, assign splits by stable hash, write.

Rows travel as Arrow record batches. Split assignment hashes each row (or its partition
feature) with :func:`~gristmill.components.beam.hashing.hash_rows` - a stable hash of
a canonical encoding, independent of process, run and runner - into
``sum(hash_buckets)`` buckets, vectorised with numpy.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.metrics.metric import Metrics, MetricsFilter

from gristmill.components.beam import arrow_coder  # noqa: F401  (registers the batch coders)
from gristmill.components.beam.hashing import hash_rows
from gristmill.components.beam.parquet_sink import SplitParquetWriter
from gristmill.components.beam.pipeline import make_beam_pipeline
from gristmill.components.example_gen.file_io import BAD_RECORD_SCHEMA, BadRecord, bad_records_batch
from gristmill.components.framework.row_progress import RowCounter

NAMESPACE = "gristmill.example_gen"
BAD = "bad_records"
ROWS_READ = "rows_read"


@dataclass(frozen=True)
class Routing:
    """How batches reach output splits.

    Attributes:
        splits: Output split names, in order.
        hash_buckets: Buckets per split; ``None`` routes each input split to the output
            split of the same name.
        partition_feature: Column to hash instead of the whole row.
    """

    splits: tuple[str, ...]
    hash_buckets: tuple[int, ...] | None = None
    partition_feature: str | None = None


def assign_buckets(batch: pa.RecordBatch, routing: Routing) -> np.ndarray:
    """Index into ``routing.splits`` for every row of ``batch`` (hash routing only)."""
    columns = [routing.partition_feature] if routing.partition_feature else None
    hashes = hash_rows(batch, columns)
    buckets = hashes % np.uint64(sum(routing.hash_buckets))
    bounds = np.cumsum(routing.hash_buckets).astype(np.uint64)
    return np.searchsorted(bounds, buckets, side="right")


class ReadFiles(beam.DoFn):
    """``(input split, path)`` -> ``(input split, RecordBatch)``; bad records to files.

    Each input file's bad records go to their own Parquet file in ``bad_dir`` (written
    under a temporary name, then renamed), which :func:`merge_bad_records` joins after the
    run: no shuffle stage just to gather them.

    Args:
        read: ``read(path, on_bad) -> iterator of batches`` for the input format.
        bad_dir: Folder for the per-file bad-record parts.
    """

    def __init__(self, read: Callable[[str, Callable[[BadRecord], None]],
                                      Iterator[pa.RecordBatch]], bad_dir: str):
        self.read = read
        self.bad_dir = bad_dir
        self.rows = Metrics.counter(NAMESPACE, ROWS_READ)
        self.bad = Metrics.counter(NAMESPACE, BAD)

    def process(self, element):
        split, path = element
        bad: list[BadRecord] = []
        for batch in self.read(path, bad.append):
            self.rows.inc(batch.num_rows)
            yield split, batch
        if bad:
            os.makedirs(self.bad_dir, exist_ok=True)
            part = os.path.join(self.bad_dir, f"part-{uuid.uuid4().hex}.parquet")
            pq.write_table(pa.Table.from_batches([bad_records_batch(bad)]), part + ".tmp")
            os.replace(part + ".tmp", part)
            self.bad.inc(len(bad))


class CountRows(beam.DoFn):
    """Pass ``(split, RecordBatch)`` through, counting rows read (in-memory sources)."""

    def __init__(self):
        self.rows = Metrics.counter(NAMESPACE, ROWS_READ)

    def process(self, element):
        self.rows.inc(element[1].num_rows)
        yield element


class AssignSplits(beam.DoFn):
    """``(input split, RecordBatch)`` -> ``(output split, RecordBatch)`` per non-empty split."""

    def __init__(self, routing: Routing):
        self.routing = routing
        self.counters = {s: Metrics.counter(NAMESPACE, f"rows:{s}") for s in routing.splits}
        self.progress = RowCounter()

    def process(self, element):
        split, batch = element
        self.progress.add(batch.num_rows)
        if self.routing.hash_buckets is None:
            self.counters[split].inc(batch.num_rows)
            yield split, batch
            return
        index = assign_buckets(batch, self.routing)
        for i, name in enumerate(self.routing.splits):
            selected = index == i
            rows = int(np.count_nonzero(selected))
            if rows:
                self.counters[name].inc(rows)
                yield name, batch.filter(pa.array(selected))  # 1.5x faster than take


class WriteSplits(beam.DoFn):
    """Write ``(split, RecordBatch)`` to one Parquet file per split and bundle.

    Row groups are encoded on a background thread (:class:`SplitParquetWriter`) while
    the next batches are read and split. Files get their final name only when the bundle
    finishes, so a retried bundle never leaves a half-written file; the executor then
    checks the rows on disk against the rows read, which would catch a duplicated bundle.
    """

    def __init__(self, split_dirs: dict[str, str], schema: pa.Schema,
                 row_group_rows: int = 256 * 1024):
        self.split_dirs = split_dirs
        self.schema = schema
        self.row_group_rows = row_group_rows
        self.sink: SplitParquetWriter | None = None

    def start_bundle(self):
        self.sink = SplitParquetWriter(self.split_dirs, self.schema, self.row_group_rows)

    def process(self, element):
        split, batch = element
        self.sink.add(split, batch)

    def finish_bundle(self):
        sink, self.sink = self.sink, None
        sink.close()

    def teardown(self):
        if self.sink is not None:  # the bundle failed: leave only .tmp files
            self.sink.abort()


def merge_bad_records(bad_dir: str, path: str) -> int:
    """Join the per-file bad-record parts into ``path``, sorted by file and line.

    A record a retried bundle wrote twice is kept once. Returns the records written
    (0, and no file, when there are none); the parts folder is removed.
    """
    parts = sorted(f for f in os.listdir(bad_dir) if f.endswith(".parquet")) \
        if os.path.isdir(bad_dir) else []
    if not parts:
        shutil.rmtree(bad_dir, ignore_errors=True)
        return 0
    table = pa.concat_tables(pq.read_table(os.path.join(bad_dir, f), schema=BAD_RECORD_SCHEMA)
                             for f in parts)
    table = table.group_by(BAD_RECORD_SCHEMA.names, use_threads=False).aggregate([])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(table.select(BAD_RECORD_SCHEMA.names).sort_by(
        [("file", "ascending"), ("line", "ascending")]), path)
    shutil.rmtree(bad_dir, ignore_errors=True)
    return table.num_rows


@dataclass
class PipelineResult:
    """What the pipeline counted: rows read, per split written, bad records."""

    rows_read: int
    rows_per_split: dict[str, int]
    bad_records: int


def run_example_pipeline(source: Callable[[beam.Pipeline, str], beam.PCollection],
                         schema: pa.Schema, routing: Routing, split_uri: Callable[[str], str],
                         bad_records_path: str, beam_args: list[str]) -> PipelineResult:
    """Build and run one ExampleGen pipeline; returns its counters.

    Args:
        source: ``source(pipeline, bad_dir)`` adds the reading transforms, yields
            ``(input split, RecordBatch)`` and writes bad-record parts into ``bad_dir``.
        schema: The Arrow schema every batch has.
        routing: Split assignment.
        split_uri: Output split name -> directory for its Parquet files.
        bad_records_path: Where bad records are written (when there are any).
        beam_args: The component's Beam pipeline args.
    """
    pipeline = make_beam_pipeline(beam_args)
    bad_dir = bad_records_path + ".parts"
    split_dirs = {name: split_uri(name) for name in routing.splits}
    _ = (source(pipeline, bad_dir)
         | "AssignSplits" >> beam.ParDo(AssignSplits(routing))
         .with_output_types(tuple[str, pa.RecordBatch])
         | "WriteSplits" >> beam.ParDo(WriteSplits(split_dirs, schema)))
    result = pipeline.run()
    result.wait_until_finish()
    counted = _counters(result, routing)
    counted.bad_records = merge_bad_records(bad_dir, bad_records_path)
    return counted


def _counters(result, routing: Routing) -> PipelineResult:
    counts: dict[str, int] = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        name = counter.key.metric.name
        counts[name] = counts.get(name, 0) + int(counter.committed or 0)
    return PipelineResult(rows_read=counts.get(ROWS_READ, 0),
                          rows_per_split={s: counts.get(f"rows:{s}", 0) for s in routing.splits},
                          bad_records=counts.get(BAD, 0))


def read_source(files: dict[str, list[str]], read) -> Callable:
    """A pipeline source over input files: ``(split, path)`` elements through :class:`ReadFiles`."""
    elements = [(split, path) for split, paths in files.items() for path in paths]

    def source(pipeline, bad_dir: str):
        return (pipeline | "ListFiles" >> beam.Create(elements)
                | "ReadFiles" >> beam.ParDo(ReadFiles(read, bad_dir))
                .with_output_types(tuple[str, pa.RecordBatch]))
    return source


def finalize_split(split_dir: str, schema: pa.Schema) -> int:
    """Name a split's files ``part-00000.parquet``... (by size, then name); return its rows.

    Writes an empty file when the split got no rows, so readers always find one.
    """
    os.makedirs(split_dir, exist_ok=True)
    files = sorted((f for f in os.listdir(split_dir) if f.endswith(".parquet")),
                   key=lambda f: (-os.path.getsize(os.path.join(split_dir, f)), f))
    if not files:
        pq.write_table(schema.empty_table(), os.path.join(split_dir, "part-00000.parquet"))
        return 0
    rows = 0
    for index, name in enumerate(files):
        path = os.path.join(split_dir, f"part-{index:05d}.parquet")
        os.replace(os.path.join(split_dir, name), path)
        rows += pq.ParquetFile(path).metadata.num_rows
    return rows


def table_source(batches: list[pa.RecordBatch]) -> Callable:
    """A pipeline source over in-memory batches, all in the input split ``single_split``."""
    elements = [("single_split", batch) for batch in batches]

    def source(pipeline, bad_dir: str):
        return (pipeline | "Table" >> beam.Create(elements)
                | "Count" >> beam.ParDo(CountRows())
                .with_output_types(tuple[str, pa.RecordBatch]))
    return source
