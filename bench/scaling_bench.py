"""``scaling``: StatisticsGen, Transform and CsvExampleGen on 1 worker versus N workers.

``python bench/run.py scaling --rows 2000000 --json [--modes serial,threads,processes]
[--repeats N] [--components stats,transform,examplegen]`` runs each component's executor
on the benchmark's synthetic taxi data (``datagen``, the same files as the ``stats``,
``transform`` and ``examplegen`` benches) with the Beam arguments of each mode:

- ``serial``: ``--direct_num_workers=1`` (one SDK worker in this process);
- ``threads``: ``--direct_num_workers=<workers> --direct_running_mode=multi_threading``;
- ``processes``: ``--direct_num_workers=<workers> --direct_running_mode=multi_processing``
  (SDK worker subprocesses; each pays interpreter start and imports).

Modes alternate within each repetition; per component it reports the median seconds per
mode, ``t1`` (serial), ``t2`` (the faster parallel mode), ``speedup = t1 / t2`` and the row
counts each mode produced (rows in the statistics, rows written by Transform and
ExampleGen): any difference between modes is an error, since a parallel run that drops
rows would be a wrong answer that looks fast.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time

import datagen

MODES = {
    "serial": lambda n: ["--direct_num_workers=1"],
    "threads": lambda n: [f"--direct_num_workers={n}", "--direct_running_mode=multi_threading"],
    "processes": lambda n: [f"--direct_num_workers={n}",
                            "--direct_running_mode=multi_processing"],
}


def add_arguments(parser) -> None:
    """``--workers``, ``--modes``, ``--repeats``, ``--components``."""
    parser.add_argument("--workers", type=int, default=2, help="workers of the parallel modes")
    parser.add_argument("--modes", default="serial,threads,processes")
    parser.add_argument("--repeats", type=int, default=2, help="runs per mode and component")
    parser.add_argument("--components", default="stats,transform,examplegen")


def _stats(rows: int, beam_args: list[str]) -> tuple[float, int]:
    from stats_bench import statistics_gen

    path = datagen.parquet_dataset(rows)
    started = time.perf_counter()
    stats = statistics_gen(path, beam_args)
    return time.perf_counter() - started, int(stats.num_examples)


def _transform(rows: int, beam_args: list[str]) -> tuple[float, int]:
    from transform_bench import transform

    path = datagen.parquet_dataset(rows)
    root = tempfile.mkdtemp(prefix="gristmill-bench-scaling-")
    try:
        started = time.perf_counter()
        _, outputs = transform(path, root, beam_args)
        seconds = time.perf_counter() - started
        return seconds, int(outputs["transformed_examples"][0].get_property("row_counts")["train"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _examplegen(rows: int, beam_args: list[str]) -> tuple[float, int]:
    """CsvExampleGen on a copy of the CSV (ExampleGen refuses a link leading outside its
    ``input_base``); the copy is made before the clock starts."""
    from gristmill.components.example_gen.component import CsvExampleGen
    from gristmill.components.framework.executor import ExecutionContext
    from gristmill.metadata.standard_artifacts import Examples

    root = tempfile.mkdtemp(prefix="gristmill-bench-scaling-", dir=_scratch())
    try:
        os.makedirs(os.path.join(root, "input"))
        shutil.copyfile(datagen.csv_dataset(rows), os.path.join(root, "input", "data.csv"))
        output = Examples(os.path.join(root, "examples"))
        os.makedirs(output.uri)
        component = CsvExampleGen(input_base=os.path.join(root, "input"))
        context = ExecutionContext(component_id="CsvExampleGen", tmp_dir=root,
                                   beam_pipeline_args=list(beam_args))
        started = time.perf_counter()
        CsvExampleGen.EXECUTOR(context).Do({}, {"examples": [output]}, component.parameters)
        seconds = time.perf_counter() - started
        return seconds, sum(output.get_property("row_counts").values())
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _scratch() -> str:
    path = os.path.join(datagen.CACHE_DIR, "scratch")
    os.makedirs(path, exist_ok=True)
    return path


COMPONENTS = {"stats": _stats, "transform": _transform, "examplegen": _examplegen}


def run(args) -> dict:
    """Alternate the modes per component; medians, speedup and row counts."""
    import apache_beam  # noqa: F401  (import cost is per process, not per run)

    modes = args.modes.split(",")
    result: dict = {"rows": args.rows, "workers": args.workers, "repeats": args.repeats,
                    "cpu_count": os.cpu_count(), "load_average_1m_start":
                    round(os.getloadavg()[0], 2), "goal_speedup": 1.7}
    for name in args.components.split(","):
        work = COMPONENTS[name]
        work(args.rows, MODES["serial"](1))  # warm-up: data generation, page cache, imports
        seconds: dict[str, list[float]] = {m: [] for m in modes}
        cpu: dict[str, list[float]] = {m: [] for m in modes}
        rows: dict[str, set[int]] = {m: set() for m in modes}
        for _ in range(args.repeats):
            for mode in modes:
                cpu_started = time.process_time()
                took, produced = work(args.rows, MODES[mode](args.workers))
                cpu[mode].append(round(time.process_time() - cpu_started, 3))
                rows[mode].add(produced)
                seconds[mode].append(round(took, 3))
        result[name] = _summary(name, args.rows, seconds, rows)
        # CPU of this process (all its threads; not the SDK worker subprocesses): with
        # threads, cpu / wall > 1 shows the work really ran on two cores at once.
        result[name]["cpu_seconds"] = cpu
    result["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    result["seconds"] = sum(result[n]["t1"] or 0 for n in args.components.split(","))
    return result


def _summary(name: str, expected: int, seconds: dict[str, list[float]],
             rows: dict[str, set[int]]) -> dict:
    counts = {mode: sorted(found) for mode, found in rows.items()}
    if any(found != [expected] for found in counts.values()):
        raise SystemExit(f"scaling/{name}: row counts per mode {counts}, expected {expected} "
                         "in every run: a mode lost or duplicated rows")
    medians = {mode: statistics.median(s) for mode, s in seconds.items()}
    parallel = {m: t for m, t in medians.items() if m != "serial"}
    best = min(parallel, key=parallel.get) if parallel else None
    t1 = medians.get("serial")
    t2 = parallel[best] if best else None
    return {"seconds": seconds, "median_seconds": medians, "t1": t1, "t2": t2,
            "t2_mode": best, "speedup": round(t1 / t2, 2) if t1 and t2 else None,
            "row_counts": {mode: found[0] for mode, found in counts.items()}}
