"""A whole pipeline with the metadata store and MLflow's tracking store on PostgreSQL.

Runs when GRISTMILL_TEST_DB_URL points at a server (``.ci/run`` starts one); each test
creates its own databases on it and drops them afterwards.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from gristmill.metadata.store import open_store
from gristmill.metadata.types import ArtifactState, ExecutionState
from gristmill.orchestrator import LocalDagRunner

URL = os.environ.get("GRISTMILL_TEST_DB_URL")
pytestmark = [pytest.mark.postgres, pytest.mark.e2e,
              pytest.mark.skipif(not URL, reason="GRISTMILL_TEST_DB_URL is not set")]
HELLO = Path(__file__).resolve().parents[2] / "pipelines" / "hello" / "pipeline.py"


def _server_and_admin_db(url: str) -> tuple[str, str]:
    base, _, _ = url.rpartition("/")
    return base, url


@pytest.fixture
def databases():
    import psycopg

    base, admin = _server_and_admin_db(URL)
    names = [f"gm_meta_{uuid.uuid4().hex[:8]}", f"gm_mlflow_{uuid.uuid4().hex[:8]}"]
    conninfo = admin.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield [f"{base}/{name}" for name in names]
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _load_hello():
    import importlib.util

    spec = importlib.util.spec_from_file_location("hello_pipeline_pg", HELLO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pipeline_runs_with_metadata_and_mlflow_on_postgres(tmp_path, monkeypatch, databases):
    metadata_url, tracking_uri = databases
    monkeypatch.setenv("GRISTMILL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GRISTMILL_MLFLOW_MIRROR", "sync")
    hello = _load_hello()
    make = lambda: hello.create_pipeline(rows=500, root=str(tmp_path / "root"),  # noqa: E731
                                         metadata_url=metadata_url, tracking_uri=tracking_uri)
    first = LocalDagRunner().run(make())
    second = LocalDagRunner().run(make())
    assert first.status == "COMPLETE", [c.error for c in first.components]
    assert [c.state for c in second.components] == [ExecutionState.CACHED] * 4

    with open_store(metadata_url) as store:
        assert len(store.list_executions(pipeline_name="hello")) == 8
        live = store.list_artifacts(states=[ArtifactState.LIVE])
        assert len(live) == 3 and all(os.path.exists(a.uri) for a in live)
        model = next(a for a in live if a.type_name == "Model")
        upstream = store.get_lineage(model.id, direction="upstream", hops=2)
        assert {a.type_name for a in upstream.artifacts} >= {"Model", "Examples"}

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name("hello")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    nested = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 2 and len(nested) == 8
    assert {r.data.tags["gristmill.state"] for r in nested} == {"COMPLETE", "CACHED"}
    assert all("FitLine.slope" in p.data.metrics for p in parents)
    assert "postgresql" not in str(first.to_dict())  # no URL (or password) leaks into results
