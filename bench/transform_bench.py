"""``transform``: Transform on synthetic taxi data versus a single-process two-pass floor.

Workload (both contestants): z-score of ``fare``, ``trip_miles``, ``trip_seconds``;
vocabulary lookup of ``payment_type`` and ``company``; ``bucketize(10)`` of ``tips``,
``extras``, ``pickup_latitude``, ``pickup_longitude``; analyze, apply and write Parquet.

The floor is plain pyarrow/numpy in one process: pass 1 streams the row groups for moments
and value counts and keeps the four bucketized columns in memory for exact ``np.quantile``;
pass 2 streams the row groups again, applies the same ops and writes Parquet. Transform runs
its executor (Beam, FnApiRunner in-process unless ``--beam-arg`` says otherwise) with bounded
memory (quantiles from KLL sketches). ``ratio = seconds / floor_seconds``. Transform runs
first, so ``peak_rss_mb_transform`` is its own peak (``peak_rss_mb`` includes the floor).
``seconds_with_statistics`` runs it again with the pre/post-transform statistics, schemas and
anomalies that the component writes by default (``disable_statistics=False``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import datagen

ZSCORE = ["fare", "trip_miles", "trip_seconds"]
VOCAB = ["payment_type", "company"]
BUCKETS = ["tips", "extras", "pickup_latitude", "pickup_longitude"]
NUM_BUCKETS = 10


def add_arguments(parser) -> None:
    parser.add_argument("--beam-arg", action="append", default=[],
                        help="extra Beam pipeline arg (repeatable)")


def preprocessing_fn(inputs):
    """The benchmark's transform, written with gristmill's ops."""
    import gristmill.components.transform_ops as gt

    out = {f"{c}_z": gt.scale_to_z_score(inputs[c]) for c in ZSCORE}
    out.update({f"{c}_id": gt.compute_and_apply_vocabulary(inputs[c]) for c in VOCAB})
    out.update({f"{c}_bucket": gt.bucketize(inputs[c], NUM_BUCKETS) for c in BUCKETS})
    return out


def floor(path: str, out_dir: str) -> dict:
    """Two-pass pyarrow/numpy implementation of the same ops; returns the fitted constants."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    moments = {c: [0, 0.0, 0.0] for c in ZSCORE}  # n, sum, sum of squares
    counts: dict[str, dict] = {c: {} for c in VOCAB}
    kept: dict[str, list] = {c: [] for c in BUCKETS}
    for i in range(source.num_row_groups):
        t = source.read_row_group(i, columns=ZSCORE + VOCAB + BUCKETS)
        for c in ZSCORE:
            x = t.column(c).drop_null().to_numpy().astype(np.float64)
            m = moments[c]
            m[0], m[1], m[2] = m[0] + len(x), m[1] + x.sum(), m[2] + (x * x).sum()
        for c in VOCAB:
            vc = pc.value_counts(t.column(c).drop_null())
            for v, n in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(),
                            strict=True):
                counts[c][v] = counts[c].get(v, 0) + n
        for c in BUCKETS:
            kept[c].append(t.column(c).drop_null().to_numpy().astype(np.float64))
    stats = {c: (m[1] / m[0], np.sqrt(m[2] / m[0] - (m[1] / m[0]) ** 2))
             for c, m in moments.items()}
    vocabs = {c: pa.array(sorted(d, key=lambda v: (-d[v], v))) for c, d in counts.items()}
    ranks = np.arange(1, NUM_BUCKETS) / NUM_BUCKETS
    bounds = {c: np.unique(np.quantile(np.concatenate(v), ranks)) for c, v in kept.items()}
    del kept
    writer = None
    for i in range(source.num_row_groups):
        t = source.read_row_group(i, columns=ZSCORE + VOCAB + BUCKETS)
        cols = {}
        for c in ZSCORE:
            x = pc.fill_null(pc.cast(t.column(c), pa.float64()), np.nan).to_numpy()
            z = (x - stats[c][0]) / stats[c][1]
            cols[f"{c}_z"] = pa.array(z.astype(np.float32), mask=np.isnan(z))
        for c in VOCAB:
            ids = pc.index_in(t.column(c), value_set=vocabs[c])
            cols[f"{c}_id"] = pc.fill_null(ids, len(vocabs[c])).cast(pa.int64())
        for c in BUCKETS:
            x = pc.fill_null(t.column(c), np.nan).to_numpy()
            b = np.searchsorted(bounds[c], x, side="right")
            b[np.isnan(x)] = len(bounds[c]) + 1
            cols[f"{c}_bucket"] = pa.array(b.astype(np.int64))
        table = pa.table(cols)
        writer = writer or pq.ParquetWriter(os.path.join(out_dir, "part-00000.parquet"),
                                            table.schema)
        writer.write_table(table)
    writer.close()
    return {"stats": stats, "bounds": bounds}


def transform(path: str, root: str, beam_args: list[str], statistics: bool = False):
    """Run Transform's executor on ``path`` as a one-split Examples artifact; with
    ``statistics`` also its pre/post-transform statistics, schemas and anomalies (the
    component's default; the floor computes no statistics)."""
    from gristmill.components.framework.executor import ExecutionContext
    from gristmill.components.transform import Transform
    from gristmill.engine.transform_fn import FittedTransform
    from gristmill.metadata.standard_artifacts import (
        ExampleAnomalies,
        Examples,
        ExampleStatistics,
        Schema,
        TransformCache,
        TransformGraph,
    )

    split_dir = os.path.join(root, "examples", "Split-train")
    os.makedirs(split_dir)
    os.symlink(os.path.abspath(path), os.path.join(split_dir, "part-00000.parquet"))
    examples = Examples(os.path.join(root, "examples"))
    examples.splits = ["train"]
    outputs = {"transform_graph": [TransformGraph(os.path.join(root, "graph"))],
               "transformed_examples": [Examples(os.path.join(root, "transformed"))],
               "updated_analyzer_cache": [TransformCache(os.path.join(root, "cache"))]}
    if statistics:
        for key, kind in (("pre_transform_schema", Schema), ("post_transform_schema", Schema),
                          ("pre_transform_stats", ExampleStatistics),
                          ("post_transform_stats", ExampleStatistics),
                          ("post_transform_anomalies", ExampleAnomalies)):
            outputs[key] = [kind(os.path.join(root, key))]
    for arts in outputs.values():
        os.makedirs(arts[0].uri)
    context = ExecutionContext(component_id="Transform", tmp_dir=root,
                               beam_pipeline_args=list(beam_args))
    Transform.EXECUTOR(context).Do({"examples": [examples]}, outputs,
                                   Transform.PARAMETERS(preprocessing_fn=preprocessing_fn))
    return FittedTransform.load(outputs["transform_graph"][0].uri), outputs


def _agreement(ft, expected: dict) -> dict:
    """Largest relative gap of z-score constants; largest bucket-boundary rank gap."""
    steps = {s["label"]: s["params"] for s in ft.steps}
    worst = 0.0
    for c, (mean, std) in expected["stats"].items():
        p = steps[f"scale_to_z_score({c})"]
        worst = max(worst, abs(p["mean"] - mean) / abs(mean), abs(p["std"] - std) / std)
    bounds = {c: steps[f"bucketize({c}, {NUM_BUCKETS})"]["boundaries"] for c in BUCKETS}
    gaps = [len(bounds[c]) - len(expected["bounds"][c]) for c in BUCKETS]
    return {"max_rel_diff_zscore": worst, "bucket_count_diff": max(map(abs, gaps))}


def _warm_page_cache(path: str) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def run(args) -> dict:
    import apache_beam  # noqa: F401  (import cost is per process, not per run)

    import gristmill.components.transform.executor  # noqa: F401

    path = datagen.parquet_dataset(args.rows)
    root = tempfile.mkdtemp(prefix="gristmill-bench-transform-")
    try:
        _warm_page_cache(path)  # for both contestants; ours runs first so its peak is its own
        start = time.perf_counter()
        ft, outputs = transform(path, os.path.join(root, "ours"), args.beam_arg)
        seconds = time.perf_counter() - start
        peak_ours = _peak_rss_mb()
        rows = outputs["transformed_examples"][0].get_property("row_counts")["train"]
        start = time.perf_counter()
        transform(path, os.path.join(root, "ours-stats"), args.beam_arg, statistics=True)
        seconds_with_statistics = time.perf_counter() - start
        os.makedirs(os.path.join(root, "floor"))
        start = time.perf_counter()
        expected = floor(path, os.path.join(root, "floor"))
        floor_seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"rows": args.rows, "rows_written": rows, "seconds": round(seconds, 3),
            "floor_seconds": round(floor_seconds, 3),
            "ratio": round(seconds / floor_seconds, 2), **_agreement(ft, expected),
            "seconds_with_statistics": round(seconds_with_statistics, 3),
            "peak_rss_mb_transform": round(peak_ours, 1),
            "beam_pipeline_args": args.beam_arg}
