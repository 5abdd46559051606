"""Bounded memory: StatisticsGen and Transform over a dataset larger than a memory cap.

Transform runs as the component does by default: with its pre/post-transform statistics.

Each component runs in a child process watched by a sampler that kills it the moment its
resident memory (with its children's) exceeds ``--cap-mb``; the exact peak comes from the
child's own ``getrusage``. The dataset's in-memory Arrow size is reported against the cap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

_CHILD = r"""
import json, resource, sys, tempfile, time
sys.path.insert(0, {here!r})
which, path = {which!r}, {path!r}
start = time.time()
if which == "stats":
    import stats_bench
    stats = stats_bench.statistics_gen(path, [])
    rows = stats.num_examples
else:
    import transform_bench
    _, outputs = transform_bench.transform(path, tempfile.mkdtemp(dir={work!r}), [],
                                           statistics=True)
    rows = outputs["transformed_examples"][0].get_property("row_counts")["train"]
print(json.dumps({{"seconds": round(time.time() - start, 2), "rows": rows,
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                       / 1024, 1)}}))
"""


def add_arguments(parser) -> None:
    parser.add_argument("--cap-mb", type=int, default=1024, help="resident memory cap")


def _rss_mb(pid: int) -> float:
    total = 0.0
    for p in [pid, *_descendants(pid)]:
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return total / 1024


def _descendants(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(k) for k in f.read().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in _descendants(k)]


def _run_capped(code: str, cap_mb: int) -> dict:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    sampled_peak, killed = 0.0, False
    while proc.poll() is None:
        rss = _rss_mb(proc.pid)
        sampled_peak = max(sampled_peak, rss)
        if rss > cap_mb:
            proc.kill()
            killed = True
        time.sleep(0.05)
    out, err = proc.communicate()
    result = {"killed_over_cap": killed, "sampled_peak_mb": round(sampled_peak, 1)}
    if proc.returncode == 0 and out.strip():
        result.update(json.loads(out.strip().splitlines()[-1]))
    else:
        result["error"] = " | ".join((err or "").strip().splitlines()[-3:])
    return result


def run(args) -> dict:
    import datagen
    import pyarrow.parquet as pq

    path = datagen.parquet_dataset(args.rows)
    work = os.path.join(datagen.CACHE_DIR, "memory-work")
    os.makedirs(work, exist_ok=True)
    parquet = pq.ParquetFile(path)  # in-memory size, extrapolated from the first row group
    bytes_per_row = parquet.read_row_group(0).nbytes / parquet.metadata.row_group(0).num_rows
    arrow_mb = bytes_per_row * parquet.metadata.num_rows / 2**20
    results = {which: _run_capped(_CHILD.format(here=HERE, which=which, path=path, work=work),
                                  args.cap_mb) for which in ("stats", "transform")}
    completed = all(r.get("rows") == args.rows and not r["killed_over_cap"]
                    for r in results.values())
    return {"rows": args.rows, "cap_mb": args.cap_mb, "dataset_in_memory_mb": round(arrow_mb),
            "dataset_to_cap_ratio": round(arrow_mb / args.cap_mb, 2), "completed": completed,
            "seconds": round(sum(r.get("seconds", 0) for r in results.values()), 2),
            **{f"{k}_{m}": v for k, r in results.items() for m, v in r.items()}}
