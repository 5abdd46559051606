"""Store round trips per node: a regression guard on orchestration overhead (issue 20).

Counts SQL statements (SQLAlchemy ``before_cursor_execute``) for a 2- and a 6-node chain
run cold; the difference over 4 nodes is the per-node cost, which does not depend on the
machine's speed. Before the batching of issue 20 it was 24 on SQLite, then 15, now 13.

On PostgreSQL (when ``GRISTMILL_TEST_DB_URL`` is set, see ``.ci/postgres.sh``) every
transaction also costs a ``BEGIN`` and a ``COMMIT`` round trip and every connection ping one:
that test counts them too (was 10.25 statements, 3 transactions and 3 pings per node).
"""

from __future__ import annotations

import os
import uuid

import pytest
from orchestrator_fakes import AddOne, Source, read_value
from sqlalchemy import event
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import Engine

from gristmill.orchestrator import LocalDagRunner, Pipeline

pytestmark = pytest.mark.integration
PG_URL_ENV = "GRISTMILL_TEST_DB_URL"


def _chain(tmp_path, n: int, url: str | None = None) -> Pipeline:
    steps = [Source(value=1).with_id("n0")]
    for i in range(1, n):
        steps.append(AddOne(x=steps[-1].outputs["out"]).with_id(f"n{i}"))
    return Pipeline(f"chain{n}_{uuid.uuid4().hex[:8]}", steps, root=str(tmp_path / f"root{n}"),
                    metadata_url=url or f"sqlite:///{tmp_path / f'chain{n}.db'}",
                    tracking_uri="")


def _statements(pipeline: Pipeline) -> tuple[int, object]:
    counts, result = _counted_run(pipeline)
    return counts["statements"], result


def _counted_run(pipeline: Pipeline) -> tuple[dict[str, int], object]:
    """Statements, transactions that send a COMMIT/ROLLBACK, and connection pings."""
    counts = {"statements": 0, "transactions": 0, "pings": 0}

    def statement(*_args):
        counts["statements"] += 1

    def end(connection):
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            counts["transactions"] += 1

    listeners = [("before_cursor_execute", statement), ("commit", end), ("rollback", end)]
    for name, listener in listeners:
        event.listen(Engine, name, listener)
    ping = PGDialect_psycopg.do_ping

    def counted_ping(self, dbapi_connection):
        counts["pings"] += 1
        return ping(self, dbapi_connection)

    PGDialect_psycopg.do_ping = counted_ping
    try:
        result = LocalDagRunner().run(pipeline)
    finally:
        PGDialect_psycopg.do_ping = ping
        for name, listener in listeners:
            event.remove(Engine, name, listener)
    return counts, result


def test_statements_per_executed_node_stay_at_most_13(tmp_path):
    small, small_result = _statements(_chain(tmp_path, 2))
    large, large_result = _statements(_chain(tmp_path, 6))
    assert small_result.status == large_result.status == "COMPLETE"
    assert read_value(large_result.node("n5").outputs["out"][0]) == 6  # 1 + five AddOnes
    per_node = (large - small) / 4
    assert per_node <= 13, f"{per_node} statements per node (was 24 before issue 20, then 15)"


@pytest.mark.skipif(not os.environ.get(PG_URL_ENV), reason=f"{PG_URL_ENV} is not set")
def test_postgres_round_trips_per_executed_node(tmp_path):
    url = os.environ[PG_URL_ENV]
    small_chain, large_chain = _chain(tmp_path, 2, url), _chain(tmp_path, 6, url)
    small, small_result = _counted_run(small_chain)
    large, large_result = _counted_run(large_chain)
    assert small_result.status == large_result.status == "COMPLETE"
    assert read_value(large_result.node("n5").outputs["out"][0]) == 6
    per_node = {key: (large[key] - small[key]) / 4 for key in large}
    # 9 statements (cache lookup 1, register 5, publish 3) + 2 transactions x (BEGIN,
    # COMMIT) + no ping = 13 round trips; was 10.25 + 3 x 2 + 3 = 19.25.
    assert per_node["statements"] <= 9, per_node
    assert per_node["transactions"] <= 2, per_node
    assert per_node["pings"] == 0, per_node
    # The same chains again, every node CACHED: lookup 1 + outputs read 1 (autocommit) +
    # register 3 + publish 8 statements in 2 transactions; was 14 in 3.
    small_again, _ = _counted_run(small_chain)
    large_again, again = _counted_run(large_chain)
    assert {c.state.value for c in again.components} == {"CACHED"}
    cached = {key: (large_again[key] - small_again[key]) / 4 for key in large_again}
    assert cached["statements"] <= 13 and cached["transactions"] <= 2, cached


def test_no_scratch_or_staging_directory_outlives_the_run(tmp_path):
    _, result = _statements(_chain(tmp_path, 3))
    assert result.status == "COMPLETE"
    root = tmp_path / "root3"
    for scratch in (".tmp", ".staging"):
        left = os.listdir(root / scratch) if (root / scratch).exists() else []
        assert left == [], f"{scratch} still holds {left} after run() returned"
