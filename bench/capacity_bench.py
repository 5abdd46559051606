"""Inputs of the capacity model (docs/scale_out.md): CPU-seconds per row of each data node.

``python bench/run.py capacity --rows N --json`` runs, on the synthetic taxi data of
``bench/datagen.py`` (the same files as the ``examplegen``, ``stats`` and ``transform``
benchmarks), the executors of CsvExampleGen (CSV -> Parquet splits), StatisticsGen and
Transform (the ``transform`` benchmark's preprocessing_fn, statistics off) one after the
other in this process (Beam's in-process FnApiRunner), and the publish step's content
fingerprint of ExampleGen's output. For each it reports wall seconds and this process's CPU
seconds (``time.process_time``: every thread, so load on the shared machine inflates the
wall figure, not the CPU one), rows per CPU-second, and input/output bytes per row. It also
measures what StatisticsGen's combiner shuffles: the pickled size of one accumulator after
one row group (``bytes_per_bundle``), i.e. the bytes a runner moves per bundle instead of
the rows themselves.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import time

import datagen
from examplegen_bench import csv_example_gen
from stats_bench import statistics_gen
from transform_bench import transform


def _du(path: str) -> int:
    return sum(os.path.getsize(os.path.join(folder, name))
               for folder, _, names in os.walk(path) for name in names)


def _measured(rows: int, fn, *args) -> tuple[dict, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn(*args)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "rows_per_cpu_s": round(rows / cpu), "rows_per_wall_s": round(rows / wall)}, value


def _stats_accumulator_bytes(parquet: str) -> dict:
    """Pickled size of StatsCombineFn's accumulator after one row group."""
    import pyarrow.parquet as pq

    from gristmill.components.beam.statistics.combine import StatsCombineFn, StatsConfig

    table = pq.ParquetFile(parquet).read_row_group(0)
    combine = StatsCombineFn(StatsConfig())
    accumulator = combine.add_input(combine.create_accumulator(),
                                    (7, table.combine_chunks().to_batches()[0]))
    size = len(pickle.dumps(accumulator))
    return {"rows_per_bundle": table.num_rows, "bytes_per_bundle": size,
            "bytes_per_row": round(size / table.num_rows, 4)}


def run(args) -> dict:
    import apache_beam  # noqa: F401  (import cost is per process, not per run)

    from gristmill.metadata.fingerprint import fingerprint_path

    rows = args.rows
    csv, parquet = datagen.csv_dataset(rows), datagen.parquet_dataset(rows)
    out = {"rows": rows, "load_avg_1m_before": round(os.getloadavg()[0], 2),
           "csv_bytes_per_row": round(os.path.getsize(csv) / rows, 1),
           "parquet_bytes_per_row": round(os.path.getsize(parquet) / rows, 1)}
    work = tempfile.mkdtemp(prefix="gristmill-capacity-")
    try:
        out["examplegen"], _ = _measured(rows, csv_example_gen, csv, os.path.join(work, "eg"),
                                         [])
        examples = os.path.join(work, "eg", "examples")
        out["examplegen"]["output_bytes_per_row"] = round(_du(examples) / rows, 1)
        size = _du(examples)
        out["fingerprint"], _ = _measured(rows, fingerprint_path, examples)
        out["fingerprint"]["mb_per_cpu_s"] = round(size / 2 ** 20 / out["fingerprint"]["cpu_s"])
        out["stats"], _ = _measured(rows, statistics_gen, parquet, [])
        out["stats"]["shuffle"] = _stats_accumulator_bytes(parquet)
        os.makedirs(os.path.join(work, "tf"))
        out["transform"], (_, outputs) = _measured(rows, transform, parquet,
                                                   os.path.join(work, "tf"), [])
        out["transform"]["output_bytes_per_row"] = round(
            _du(outputs["transformed_examples"][0].uri) / rows, 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out["seconds"] = round(sum(out[k]["wall_s"] for k in ("examplegen", "stats", "transform")),
                           2)
    out["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    return out
