"""``stats``: StatisticsGen on synthetic taxi data versus a single-process floor.

The floor streams the same file's row groups through ``pyarrow.compute`` for count, nulls,
mean, std, min and max of every numeric column (count and nulls of the others), merging
moments across row groups. Both run in this process after one untimed read that warms the
page cache; ``ratio = seconds / floor_seconds``.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time

import datagen


def add_arguments(parser) -> None:
    parser.add_argument("--beam-arg", action="append", default=[],
                        help="extra Beam pipeline arg (repeatable)")


def floor(path: str) -> dict[str, dict[str, float]]:
    """Streaming pyarrow.compute moments; returns figures per column."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    figures: dict[str, dict[str, float]] = {}
    for index in range(parquet.num_row_groups):
        table = parquet.read_row_group(index)
        for name in table.column_names:
            column = table.column(name)
            f = figures.setdefault(name, {"count": 0, "nulls": 0, "n": 0, "mean": 0.0, "m2": 0.0,
                                          "min": math.inf, "max": -math.inf})
            f["count"] += len(column)
            f["nulls"] += column.null_count
            if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
                continue
            n = len(column) - column.null_count
            if n == 0:
                continue
            mean = pc.mean(column).as_py()
            m2 = pc.variance(column, ddof=0).as_py() * n
            low_high = pc.min_max(column)
            delta, total = mean - f["mean"], f["n"] + n
            f["m2"] += m2 + delta * delta * f["n"] * n / total
            f["mean"] += delta * n / total
            f["n"] = total
            f["min"] = min(f["min"], low_high["min"].as_py())
            f["max"] = max(f["max"], low_high["max"].as_py())
    for f in figures.values():
        f["std"] = math.sqrt(f["m2"] / f["n"]) if f["n"] else float("nan")
    return figures


def statistics_gen(path: str, beam_args: list[str]):
    """Run StatisticsGen's executor on ``path`` as a one-split Examples artifact."""
    from gristmill.components.framework.executor import ExecutionContext
    from gristmill.components.framework.statistics_model import load_statistics
    from gristmill.components.statistics_gen.component import StatisticsGen
    from gristmill.metadata.standard_artifacts import Examples, ExampleStatistics

    root = tempfile.mkdtemp(prefix="gristmill-bench-")
    try:
        split_dir = os.path.join(root, "examples", "Split-train")
        os.makedirs(split_dir)
        os.symlink(os.path.abspath(path), os.path.join(split_dir, "part-00000.parquet"))
        examples = Examples(os.path.join(root, "examples"))
        examples.splits = ["train"]
        output = ExampleStatistics(os.path.join(root, "statistics"))
        os.makedirs(output.uri)
        context = ExecutionContext(component_id="StatisticsGen", tmp_dir=root,
                                   beam_pipeline_args=list(beam_args))
        StatisticsGen.EXECUTOR(context).Do({"examples": [examples]}, {"statistics": [output]},
                                           StatisticsGen.PARAMETERS())
        return load_statistics(output.split_uri("train"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _max_relative_difference(ours, theirs: dict) -> float:
    worst = 0.0
    for name, f in theirs.items():
        numeric = ours.feature(name).numeric
        if numeric is None or not f["n"]:
            continue
        for key, value in (("mean", numeric.mean), ("std", numeric.std_dev)):
            worst = max(worst, abs(value - f[key]) / max(abs(f[key]), 1e-300))
    return worst


def run(args) -> dict:
    import apache_beam  # noqa: F401  (import cost is per process, not per run)

    import gristmill.components.statistics_gen.component  # noqa: F401

    path = datagen.parquet_dataset(args.rows)
    floor(path)  # warm the page cache for both contestants
    start = time.perf_counter()
    expected = floor(path)
    floor_seconds = time.perf_counter() - start
    start = time.perf_counter()
    stats = statistics_gen(path, args.beam_arg)
    seconds = time.perf_counter() - start
    return {"rows": args.rows, "seconds": round(seconds, 3),
            "floor_seconds": round(floor_seconds, 3),
            "ratio": round(seconds / floor_seconds, 2),
            "max_rel_diff_vs_floor": _max_relative_difference(stats, expected),
            "beam_pipeline_args": args.beam_arg}
