"""``examplegen``: CsvExampleGen on synthetic taxi CSV versus a single-process floor.

The floor is ``pyarrow.csv.read_csv`` of the whole file plus ``pyarrow.parquet.write_table``
(snappy), in this process. Both run after one untimed read that warms the page cache, then
take turns ``--repeat`` times (so a noisy neighbour hits both alike); ``seconds`` and
``floor_seconds`` are the medians, every run is listed, ``ratio = seconds /
floor_seconds``. Rows written are checked against rows generated on every run.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time

import datagen


def add_arguments(parser) -> None:
    parser.add_argument("--beam-arg", action="append", default=[],
                        help="extra Beam pipeline arg (repeatable)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed runs of each, taking turns (medians are reported)")


def floor(path: str, out_dir: str) -> int:
    """Read the CSV with pyarrow and write it as one Parquet file; returns rows."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    pq.write_table(table, os.path.join(out_dir, "floor.parquet"), compression="snappy")
    return table.num_rows


def csv_example_gen(path: str, root: str, beam_args: list[str]) -> dict[str, int]:
    """Run CsvExampleGen's executor on ``path``; returns rows per split."""
    from gristmill.components.example_gen.component import CsvExampleGen
    from gristmill.components.framework.executor import ExecutionContext
    from gristmill.metadata.standard_artifacts import Examples

    input_base = os.path.join(root, "input")
    os.makedirs(input_base)
    # a hard link (a copy across filesystems): ExampleGen refuses symlinks leaving input_base
    try:
        os.link(os.path.abspath(path), os.path.join(input_base, "data.csv"))
    except OSError:
        shutil.copyfile(path, os.path.join(input_base, "data.csv"))
    output = Examples(os.path.join(root, "examples"))
    os.makedirs(output.uri)
    component = CsvExampleGen(input_base=input_base)
    context = ExecutionContext(component_id="CsvExampleGen", tmp_dir=root,
                               beam_pipeline_args=list(beam_args))
    CsvExampleGen.EXECUTOR(context).Do({}, {"examples": [output]}, component.parameters)
    return dict(output.get_property("row_counts"))


def run(args) -> dict:
    import apache_beam  # noqa: F401  (import cost is per process, not per run)

    import gristmill.components.example_gen.component  # noqa: F401

    path = datagen.csv_dataset(args.rows)
    root = tempfile.mkdtemp(prefix="gristmill-bench-")
    floors, runs = [], []
    try:
        floor(path, root)  # warm the page cache
        for attempt in range(max(1, args.repeat)):
            start = time.perf_counter()
            floor(path, root)
            floors.append(time.perf_counter() - start)
            run_root = os.path.join(root, f"run-{attempt}")
            os.makedirs(run_root)
            start = time.perf_counter()
            rows = csv_example_gen(path, run_root, args.beam_arg)
            runs.append(time.perf_counter() - start)
            shutil.rmtree(run_root)
            if sum(rows.values()) != args.rows:
                raise SystemExit(f"CsvExampleGen wrote {rows}, expected {args.rows} rows in all")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    seconds, floor_seconds = statistics.median(runs), statistics.median(floors)
    return {"rows": args.rows, "seconds": round(seconds, 3),
            "floor_seconds": round(floor_seconds, 3), "ratio": round(seconds / floor_seconds, 2),
            "runs_seconds": [round(r, 3) for r in runs],
            "floor_runs_seconds": [round(f, 3) for f in floors],
            "row_counts": rows, "beam_pipeline_args": args.beam_arg}
