"""Store round trips per node: a regression guard on orchestration overhead (issue 20).

Counts SQL statements (SQLAlchemy ``before_cursor_execute``) for a 2- and a 6-node chain
run cold; the difference over 4 nodes is the per-node cost, which does not depend on the
machine's speed. Before the batching of issue 20 it was 24 on SQLite.
"""

from __future__ import annotations

import os

import pytest
from orchestrator_fakes import AddOne, Source, read_value
from sqlalchemy import event
from sqlalchemy.engine import Engine

from gristmill.orchestrator import LocalDagRunner, Pipeline

pytestmark = pytest.mark.integration


def _chain(tmp_path, n: int) -> Pipeline:
    steps = [Source(value=1).with_id("n0")]
    for i in range(1, n):
        steps.append(AddOne(x=steps[-1].outputs["out"]).with_id(f"n{i}"))
    return Pipeline(f"chain{n}", steps, root=str(tmp_path / f"root{n}"),
                    metadata_url=f"sqlite:///{tmp_path / f'chain{n}.db'}", tracking_uri="")


def _statements(pipeline: Pipeline) -> tuple[int, object]:
    count = [0]

    def counter(*_args):
        count[0] += 1

    event.listen(Engine, "before_cursor_execute", counter)
    try:
        result = LocalDagRunner().run(pipeline)
    finally:
        event.remove(Engine, "before_cursor_execute", counter)
    return count[0], result


def test_statements_per_executed_node_stay_at_most_15(tmp_path):
    small, small_result = _statements(_chain(tmp_path, 2))
    large, large_result = _statements(_chain(tmp_path, 6))
    assert small_result.status == large_result.status == "COMPLETE"
    assert read_value(large_result.node("n5").outputs["out"][0]) == 6  # 1 + five AddOnes
    per_node = (large - small) / 4
    assert per_node <= 15, f"{per_node} statements per node (was 24 before issue 20)"


def test_no_scratch_or_staging_directory_outlives_the_run(tmp_path):
    _, result = _statements(_chain(tmp_path, 3))
    assert result.status == "COMPLETE"
    root = tmp_path / "root3"
    for scratch in (".tmp", ".staging"):
        left = os.listdir(root / scratch) if (root / scratch).exists() else []
        assert left == [], f"{scratch} still holds {left} after run() returned"
