"""``s3-taxi``: taxi-like rows through CsvExampleGen -> StatisticsGen -> SchemaGen ->
Transform with the root on an S3 server vs on a local folder (issue 17's third figure).

``python bench/run.py s3-taxi --rows N --json`` writes ``bench/datagen.py``'s CSV of N rows,
then runs ``gristmill run bench/s3_taxi_pipeline.py`` through the real CLI twice, each cold
in a fresh ``GRISTMILL_HOME`` and store: once with a local root, once with ``--root
s3://...`` on the server ``bench/s3_bench.py`` uses (``$GRISTMILL_TEST_S3_ENDPOINT``, else
moto's server in this process: objects in memory, on loopback). The MLflow mirror is off.

Reported: each node's seconds (the run's ``--json``), the S3/local ratio of StatisticsGen
and Transform (and of the whole run), and the objects and bytes the bucket holds afterwards
(= bytes uploaded: in one run, consumers read the producer's staging copy, so nothing is
downloaded; a later run on another machine would download what it reads).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

import datagen
import s3_bench

HERE = Path(__file__).resolve().parent
PIPELINE = HERE / "s3_taxi_pipeline.py"
TIMED = ("CsvExampleGen", "StatisticsGen", "SchemaGen", "Transform")


def add_arguments(parser) -> None:
    """``--repeat N``: N local/S3 pairs, alternating which goes first; medians reported."""
    parser.add_argument("--repeat", type=int, default=1)


def _input_base(rows: int) -> str:
    """A folder holding only the cached CSV of ``rows`` rows (hard link, else a copy)."""
    path = os.path.abspath(datagen.csv_dataset(rows))
    folder = tempfile.mkdtemp(prefix="gristmill-s3-taxi-input-")
    try:
        os.link(path, os.path.join(folder, "data.csv"))
    except OSError:
        shutil.copyfile(path, os.path.join(folder, "data.csv"))
    with open(path, "rb") as f:  # warm the page cache, so the first run is not penalised
        while f.read(1 << 24):
            pass
    return folder


def _check_rows(result: dict, database: Path, rows: int) -> None:
    """Refuse a run whose ExampleGen did not ingest every generated row."""
    from gristmill.metadata.store import open_store

    (node,) = [c for c in result["components"] if c["name"] == "CsvExampleGen"]
    with open_store(f"sqlite:///{database}") as store:
        (examples,) = store.get_artifacts([node["outputs"]["examples"][0]["id"]])
    counted = sum(dict(examples.get_property("row_counts")).values())
    if counted != rows:
        raise RuntimeError(f"CsvExampleGen ingested {counted} rows, expected {rows}")


def _cold(root: str, input_base: str, env: dict[str, str], rows: int) -> dict:
    """One cold run in a fresh home: wall seconds and seconds per node."""
    home = Path(tempfile.mkdtemp(prefix="gristmill-s3-taxi-bench-"))
    env = {**env, "GRISTMILL_HOME": str(home), "GRISTMILL_MLFLOW_MIRROR": "off"}
    command = [sys.executable, "-m", "gristmill.orchestrator.cli", "run", str(PIPELINE),
               "--root", root, f"--param=input_base={input_base}", "--json"]
    result, wall = s3_bench._timed(command, env, home)
    if result["status"] != "COMPLETE":
        raise RuntimeError(f"{root}: run ended {result['status']}")
    nodes = {c["name"]: c["seconds"] for c in result["components"]}
    _check_rows(result, home / "metadata.db", rows)
    shutil.rmtree(home, ignore_errors=True)
    return {"seconds": result["seconds"], "wall_seconds": round(wall, 2), "nodes": nodes}


def run(args) -> dict:
    """Local cold run, then S3 cold run; per-node ratios and what the bucket holds."""
    input_base = _input_base(args.rows)
    endpoint, credentials, server = s3_bench._server()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRISTMILL_")}
    env.update(credentials, AWS_ENDPOINT_URL=endpoint, AWS_EC2_METADATA_DISABLED="true")
    try:
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint, **s3_bench._boto_credentials(env))
        bucket = f"gm-bench-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=bucket)
        runs: dict[str, list[dict]] = {"local": [], "s3": []}
        for attempt in range(max(1, args.repeat)):
            order = ["local", "s3"] if attempt % 2 == 0 else ["s3", "local"]
            for kind in order:
                root = tempfile.mkdtemp(prefix="gristmill-local-root-") if kind == "local" \
                    else f"s3://{bucket}/taxi-{attempt}"
                runs[kind].append(_cold(root, input_base, env, args.rows))
                if kind == "local":
                    shutil.rmtree(root, ignore_errors=True)
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        objects = [o for page in pages for o in page.get("Contents", [])]
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(input_base, ignore_errors=True)
    local, s3 = _median(runs["local"]), _median(runs["s3"])
    ratios = {name: round(s3["nodes"][name] / local["nodes"][name], 2) for name in TIMED}
    return {"rows": args.rows, "seconds": s3["seconds"], "floor_seconds": local["seconds"],
            "ratio": round(s3["seconds"] / local["seconds"], 2),
            "statistics_gen_ratio": ratios["StatisticsGen"],
            "transform_ratio": ratios["Transform"], "node_ratios": ratios,
            "local": local, "s3": s3, "repeat": max(1, args.repeat), "runs": runs,
            "s3_objects_per_run": len(objects) // max(1, args.repeat),
            "s3_bytes_uploaded_per_run": sum(o["Size"] for o in objects) // max(1, args.repeat),
            "bytes_downloaded": 0,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "server": "external" if server is None else "moto in-process"}


def _median(runs: list[dict]) -> dict:
    """Median run seconds and median seconds of each node over ``runs``."""
    return {"seconds": round(statistics.median(r["seconds"] for r in runs), 3),
            "nodes": {name: round(statistics.median(r["nodes"][name] for r in runs), 3)
                      for name in runs[0]["nodes"]}}
