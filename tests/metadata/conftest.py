"""Backends for the metadata store contract tests.

Every test that uses ``store_url`` or ``store`` here runs on SQLite, and on PostgreSQL as
well when ``GRISTMILL_TEST_DB_URL`` is set (``.ci/postgres.sh start`` prints it). Each
PostgreSQL test gets a fresh schema, dropped afterwards, so tests stay independent.
"""

from __future__ import annotations

import os
import uuid

import pytest

PG_URL_ENV = "GRISTMILL_TEST_DB_URL"


def _pg_admin_dsn(url: str) -> str:
    """A psycopg DSN for a SQLAlchemy ``postgresql+psycopg://`` URL."""
    return "postgresql://" + url.split("://", 1)[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A URL to an empty metadata database on each available backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'metadata.db'}"
        return
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(f"PostgreSQL contract tests need {PG_URL_ENV}")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_admin_dsn(base), autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options=-csearch_path%3D{schema}"
    with psycopg.connect(_pg_admin_dsn(base), autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store(store_url):
    """A fresh SqlMetadataStore on each available backend."""
    from gristmill.metadata.sql.store import SqlMetadataStore

    with SqlMetadataStore(store_url) as opened:
        yield opened


@pytest.fixture
def run_step(store):
    """``run_step(component_id, inputs=..., outputs=..., state=...)``: register, then publish.

    ``outputs`` maps key -> list of artifacts (they get uris under ``/data/<component>``
    when empty). COMPLETE publishes them LIVE with a fingerprint; other states publish
    with an error. Returns the published ExecutionRecord.
    """
    from gristmill.metadata.types import ExecutionState

    run = store.put_context("pipeline_run", "run-1")

    def step(component_id, *, inputs=None, outputs=None, state=ExecutionState.COMPLETE,
             cache_key=None, run_id="run-1", context_ids=None):
        outputs = outputs or {}
        for key, artifacts in outputs.items():
            for i, artifact in enumerate(artifacts):
                artifact.uri = artifact.uri or f"/data/{component_id}/{key}/{i}"
        record = store.register_execution(
            component_id=component_id, component_type=f"test.{component_id}",
            parameters={"p": 1}, cache_key=cache_key, cache_ingredients={"code": "v1"},
            context_ids=[run.id] if context_ids is None else context_ids,
            inputs=inputs or {}, outputs=outputs, pipeline_name="pipe", run_id=run_id)
        if state is None:
            return record
        if state is ExecutionState.COMPLETE:
            for artifact in (a for arts in outputs.values() for a in arts):
                artifact.fingerprint = f"blake2b:{artifact.id}"
            return store.publish_execution(record.id, state=state, outputs=outputs)
        return store.publish_execution(record.id, state=state, error="boom")

    return step
