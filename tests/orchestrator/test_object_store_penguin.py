"""The penguin pipeline with its artifact root on the S3 server, cold and then fully cached.

Metadata on the CI PostgreSQL when ``GRISTMILL_TEST_DB_URL`` is set (``.ci/run``), else on
SQLite; the MLflow mirror on (synchronous), so its store can be searched for credentials.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import object_store_server
import pytest
from object_store_server import object_keys

from gristmill.metadata.store import open_store
from gristmill.metadata.types import ArtifactState

PG_URL = os.environ.get("GRISTMILL_TEST_DB_URL")
PENGUIN = Path(__file__).resolve().parents[2] / "pipelines" / "penguin" / "pipeline.py"
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
s3_endpoint, bucket = object_store_server.s3_endpoint, object_store_server.bucket  # fixtures


@pytest.fixture
def metadata_url(tmp_path):
    """A fresh database on the CI PostgreSQL server, else a SQLite file."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'metadata.db'}"
        return
    import psycopg

    admin = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"gm_s3_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_URL.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _penguin(root: str, metadata_url: str, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRISTMILL_")}
    env.update(GRISTMILL_HOME=str(home), GRISTMILL_MLFLOW_MIRROR="sync")
    done = subprocess.run(
        [sys.executable, "-m", "gristmill.orchestrator.cli", "run", str(PENGUIN), "--root",
         root, "--param=epochs=3", f"--param=metadata_url={metadata_url}", "--json"],
        env=env, cwd=home, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-6000:]
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    assert secret not in done.stdout and secret not in done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_penguin_on_s3_runs_cold_then_fully_cached(bucket, s3_endpoint, metadata_url,
                                                   tmp_path):
    home = tmp_path / "penguin-home"
    home.mkdir()
    root = f"s3://{bucket}/penguin"
    cold = _penguin(root, metadata_url, home)
    assert cold["status"] == "COMPLETE" and cold["root"] == root
    assert {c["state"] for c in cold["components"]} == {"COMPLETE"}
    uris = [a["uri"] for c in cold["components"] for v in c["outputs"].values() for a in v]
    assert len(uris) >= 12 and all(u.startswith(root + "/") for u in uris)

    cached = _penguin(root, metadata_url, home)
    states = {c["name"]: c["state"] for c in cached["components"]}
    assert states.pop("latest_blessed_model_resolver") == "COMPLETE"  # looks up every run
    assert set(states.values()) == {"CACHED"}, states

    with open_store(metadata_url) as store:
        live = store.list_artifacts(states=[ArtifactState.LIVE])
        assert {a.uri for a in live} >= set(uris)
        for artifact in live:
            prefix = artifact.uri.removeprefix(f"s3://{bucket}/") + "/"
            assert artifact.fingerprint and object_keys(s3_endpoint, bucket, prefix), artifact
    # Credentials never reach the MLflow store (params, tags) nor the metadata store.
    secret = os.environ["AWS_SECRET_ACCESS_KEY"].encode()
    stores = [home / "mlflow.db", *([] if PG_URL else [tmp_path / "metadata.db"])]
    assert all(path.is_file() and secret not in path.read_bytes() for path in stores)
