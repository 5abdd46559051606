"""Object-store benchmark: the penguin pipeline with its root on S3 vs on a local folder.

``python bench/run.py s3 --json`` runs ``gristmill run pipelines/penguin/pipeline.py`` four
times through the real CLI, each pair in a fresh ``GRISTMILL_HOME`` and store: local root
cold, local root cached, S3 root cold, S3 root cached (``--root s3://...``). The S3 server
is the one named by ``$GRISTMILL_TEST_S3_ENDPOINT`` (``.ci/s3.sh start``), else moto's
server started here on 127.0.0.1; so the figures measure the protocol and the commit design
(upload after the executor, listing checks on cache hits, downloads of inputs), not a
network. The MLflow mirror is off in all four runs, so only the artifact I/O differs.

Reported: each run's runner seconds (from ``--json``) and wall seconds, the S3/local ratio
cold and cached, and the objects and bytes the S3 root holds afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "gristmill-bench", "AWS_SECRET_ACCESS_KEY": "bench-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}


def add_arguments(parser) -> None:
    """``--pipeline FILE`` and repeatable ``--param K=V`` (default ``epochs=3``)."""
    parser.add_argument("--pipeline", default=str(REPO / "pipelines" / "penguin" / "pipeline.py"))
    parser.add_argument("--param", action="append", default=None, metavar="KEY=VALUE")


def _server() -> tuple[str, dict[str, str], object | None]:
    endpoint = os.environ.get("GRISTMILL_TEST_S3_ENDPOINT")
    if endpoint:
        return endpoint, {}, None
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return f"http://127.0.0.1:{port}", dict(CREDENTIALS), server


def _timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[dict, float]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def _pair(args, root: str, env: dict[str, str]) -> dict:
    """A cold run and a cached run in a fresh home; their seconds."""
    home = Path(tempfile.mkdtemp(prefix="gristmill-s3-bench-"))
    env = {**env, "GRISTMILL_HOME": str(home), "GRISTMILL_MLFLOW_MIRROR": "off"}
    command = [sys.executable, "-m", "gristmill.orchestrator.cli", "run",
               str(Path(args.pipeline).resolve()), "--root", root,
               *[f"--param={p}" for p in args.param], "--json"]
    cold, cold_wall = _timed(command, env, home)
    cached, cached_wall = _timed(command, env, home)
    states = {c["state"] for c in cached["components"] if c["type"] != "Resolver"}
    if cold["status"] != "COMPLETE" or states != {"CACHED"}:
        raise RuntimeError(f"{root}: cold {cold['status']}, cached run states {states}")
    return {"cold_seconds": cold["seconds"], "cold_wall_seconds": round(cold_wall, 2),
            "cached_seconds": cached["seconds"], "cached_wall_seconds": round(cached_wall, 2),
            "nodes": len(cold["components"])}


def run(args) -> dict:
    """Local pair, then S3 pair; ratios and what the bucket holds."""
    args.param = args.param if args.param is not None else ["epochs=3"]
    endpoint, credentials, server = _server()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRISTMILL_")}
    env.update(credentials, AWS_ENDPOINT_URL=endpoint, AWS_EC2_METADATA_DISABLED="true")
    try:
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint, **_boto_credentials(env))
        bucket = f"gm-bench-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=bucket)
        local = _pair(args, tempfile.mkdtemp(prefix="gristmill-local-root-"), env)
        s3 = _pair(args, f"s3://{bucket}/penguin", env)
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        objects = [o for page in pages for o in page.get("Contents", [])]
    finally:
        if server is not None:
            server.stop()
    return {"rows": 0, "seconds": s3["cold_seconds"], "floor_seconds": local["cold_seconds"],
            "ratio": round(s3["cold_seconds"] / local["cold_seconds"], 2),
            "cached_ratio": round(s3["cached_seconds"] / local["cached_seconds"], 2),
            "local": local, "s3": s3, "s3_objects": len(objects),
            "s3_bytes": sum(o["Size"] for o in objects), "params": args.param,
            "server": "external" if server is None else "moto in-process"}


def _boto_credentials(env: dict[str, str]) -> dict[str, str]:
    return {"aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
            "region_name": env.get("AWS_DEFAULT_REGION", "us-east-1")}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    print(json.dumps(run(parser.parse_args())))
