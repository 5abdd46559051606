"""Benchmark runner: ``python bench/run.py <name> [--rows N] [--json]``.

Each benchmark is a module in this folder registered in :data:`BENCHMARKS` as
``name -> (module, help)``; the module defines ``add_arguments(parser)`` (optional) and
``run(args) -> dict``. The result is printed as a table, or with ``--json`` as one JSON
object on the last line (name, rows, seconds, floor_seconds, ratio, peak_rss_mb, ...).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# name -> (module in bench/, one-line help). Add yours here.
BENCHMARKS = {
    "stats": ("stats_bench", "StatisticsGen vs one process streaming pyarrow.compute"),
    "examplegen": ("examplegen_bench", "CsvExampleGen vs pyarrow.csv read + Parquet write"),
    "transform": ("transform_bench", "Transform vs a two-pass pyarrow/numpy implementation"),
    "trainer": ("trainer_bench", "engine training epoch vs a hand-written fused-AdamW loop"),
    "serve": ("serve_bench", "one raw record -> prediction latency (ONNX and torch)"),
    "e2e": ("e2e_bench", "penguin pipeline cold and cached, per-component seconds"),
    "cli": ("cli_bench", "gristmill --help start-up vs a bare python"),
    "memory": ("memory_bench", "StatisticsGen and Transform under a resident-memory cap"),
    "gpu": ("gpu_bench", "3x256 MLP on device-resident data: rows/s, optimizer share, serving"),
    "chain": ("chain_bench", "orchestration overhead per node: 10- and 50-node @component chains"),
    "wide": ("wide_bench", "StatisticsGen+SchemaGen+ExampleValidator on 5,000 x 100"),
    "s3": ("s3_bench", "penguin with its root on an S3 server vs a local root, cold and cached"),
    "capacity": ("capacity_bench", "CPU-s per row of ExampleGen/StatisticsGen/Transform, shuffle"),
    "s3-taxi": ("s3_taxi_bench", "taxi rows: StatisticsGen/Transform on an S3 root vs local"),
    "ray": ("ray_bench", "penguin on a 2-node local Ray cluster vs LocalDagRunner (per node)"),
    "scaling": ("scaling_bench", "StatisticsGen, Transform, ExampleGen: 1 worker vs N"),
    "ui": ("ui_bench", "gristmill ui: seconds until /health answers, memory of its processes"),
    "trainer-e2e": ("trainer_e2e_bench", "Trainer executor wall vs its training loop alone"),
}

# `all`: each benchmark in its own process (peak RSS is per benchmark) at these sizes. A
# value is the benchmark's arguments (the key names the benchmark) or (benchmark, arguments)
# when one benchmark runs at several sizes. `full` holds every figure issue 20's goals name
# (bench/goals.py reads them).
SUITES = {
    "small": {"stats": ["--rows", "1000000"], "examplegen": ["--rows", "300000"],
              "transform": ["--rows", "1000000"], "trainer": [], "serve": [], "e2e": [],
              "cli": [], "memory": ["--rows", "5000000", "--cap-mb", "512"],
              "chain": ["--repeats", "3"]},
    "full": {"stats-100k": ("stats", ["--rows", "100000"]),
             "stats-1m": ("stats", ["--rows", "1000000"]),
             "stats": ["--rows", "10000000"],
             "examplegen-100k": ("examplegen", ["--rows", "100000"]),
             "examplegen": ["--rows", "1000000"],
             "transform-100k": ("transform", ["--rows", "100000"]),
             "transform-1m": ("transform", ["--rows", "1000000"]),
             "transform": ["--rows", "10000000"],
             "trainer": [], "trainer-e2e": [], "serve": [], "e2e": [], "cli": [],
             "chain": ["--repeats", "3"], "ui": ["--repeats", "2"],
             "scaling": ["--rows", "10000000", "--repeats", "2"],
             "capacity-1m": ("capacity", ["--rows", "1000000"]),
             "capacity-10m": ("capacity", ["--rows", "10000000"]),
             "capacity-50m": ("capacity", ["--rows", "50000000"]),
             "memory": ["--rows", "50000000", "--cap-mb", "512"],
             "gpu": []},
}


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children, in MiB."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0  # Linux reports KiB


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "all":
        from report import run_all

        return run_all(argv[1:], SUITES)
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="name", required=True)
    for name, (module_name, help_text) in BENCHMARKS.items():
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--rows", type=int, default=1_000_000, help="rows of synthetic data")
        cmd.add_argument("--json", action="store_true", help="print the result as JSON")
        if argv and argv[0] == name:  # import only the benchmark asked for
            module = _load(module_name)
            if hasattr(module, "add_arguments"):
                module.add_arguments(cmd)
    args = parser.parse_args(argv)
    result = {"name": args.name, **_load(BENCHMARKS[args.name][0]).run(args)}
    result.setdefault("peak_rss_mb", round(peak_rss_mb(), 1))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>16}: {value}")
    return 0


def _load(module_name: str):
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    return importlib.import_module(module_name)


if __name__ == "__main__":
    sys.exit(main())
