"""Store rows that point outside the artifact root: never deleted, never read, reported."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys

import pytest

from gristmill.metadata.confinement import ConfinementError, confine
from gristmill.metadata.standard_artifacts import Examples
from gristmill.metadata.store import open_store
from gristmill.metadata.types import ArtifactState, ExecutionState
from gristmill.orchestrator import LocalDagRunner, publisher
from tests.orchestrator.orchestrator_fakes import AddOne, Source, make_pipeline

pytestmark = pytest.mark.integration
TOKEN = "0123456789ab"


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _victim(tmp_path):
    """A folder outside the pipeline root shaped like <root>/<node>/<key>/<token>."""
    outside = tmp_path / "precious"
    for path in (outside / "Node" / "out" / TOKEN, outside / ".staging" / TOKEN,
                 outside / ".tmp" / TOKEN):
        path.mkdir(parents=True)
        (path / "keep.txt").write_text("mine")
    return outside


def _stale_execution(db_path, pipeline: str, uri: str) -> int:
    """A RUNNING execution of ``pipeline`` whose output is ``uri``, its process dead."""
    with open_store(f"sqlite:///{db_path}") as store:
        execution = store.register_execution(
            component_id="Node", component_type="x.Node", parameters={}, cache_key=None,
            cache_ingredients={}, context_ids=[], inputs={},
            outputs={"out": [Examples(uri)]}, pipeline_name=pipeline, run_id="r0")
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE executions SET pid = ? WHERE id = ?",
                           (_dead_pid(), execution.id))
    return execution.id


def test_stale_recovery_refuses_an_output_outside_the_root(tmp_path, caplog):
    outside = _victim(tmp_path)
    root = tmp_path / "root"
    db = tmp_path / "metadata.db"
    execution_id = _stale_execution(db, "fake", str(outside / "Node" / "out" / TOKEN))

    with caplog.at_level(logging.WARNING), open_store(f"sqlite:///{db}") as store:
        recovered = publisher.recover_stale(store, str(root), "fake")
        assert [r.id for r in recovered] == [execution_id]
        assert store.get_execution(execution_id).state is ExecutionState.FAILED

    assert sorted(p.read_text() for p in outside.rglob("keep.txt")) == ["mine"] * 3
    assert f"execution {execution_id}" in caplog.text and "outside" in caplog.text


def test_the_next_run_of_a_pipeline_deletes_nothing_outside_its_root(tmp_path, caplog):
    outside = _victim(tmp_path)
    _stale_execution(tmp_path / "metadata.db", "fake", str(outside / "Node" / "out" / TOKEN))
    source = Source(value=1)

    with caplog.at_level(logging.WARNING):
        result = LocalDagRunner().run(make_pipeline(tmp_path, [source]))

    assert result.status == "COMPLETE"
    assert len(list(outside.rglob("keep.txt"))) == 3
    assert "refused, nothing there was read or deleted" in caplog.text


def test_a_symlink_inside_the_root_does_not_lead_stale_recovery_out(tmp_path):
    outside = _victim(tmp_path)
    root = tmp_path / "root"
    root.mkdir()
    (root / "Node").symlink_to(outside / "Node")
    db = tmp_path / "metadata.db"
    _stale_execution(db, "fake", str(root / "Node" / "out" / TOKEN))

    with open_store(f"sqlite:///{db}") as store:
        publisher.recover_stale(store, str(root), "fake")

    assert (outside / "Node" / "out" / TOKEN / "keep.txt").exists()


def test_stale_leftovers_inside_the_root_are_still_deleted(tmp_path):
    root = tmp_path / "root"
    uri = root / "Node" / "out" / TOKEN
    for path in (uri, root / ".staging" / TOKEN, root / ".tmp" / TOKEN):
        path.mkdir(parents=True)
    db = tmp_path / "metadata.db"
    _stale_execution(db, "fake", str(uri))

    with open_store(f"sqlite:///{db}") as store:
        publisher.recover_stale(store, str(root), "fake")

    assert not any(p.exists() for p in (uri, root / ".staging" / TOKEN, root / ".tmp" / TOKEN))


def test_a_tampered_cached_output_is_not_read_and_the_node_re_runs(tmp_path, caplog):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "value.txt").write_text("41")
    source = Source(value=1)
    add = AddOne(x=source.outputs["out"])
    pipeline = make_pipeline(tmp_path, [source, add])
    assert LocalDagRunner().run(pipeline).status == "COMPLETE"
    with sqlite3.connect(tmp_path / "metadata.db") as connection:  # point Source's output
        connection.execute("UPDATE artifacts SET uri = ?, fingerprint = NULL "
                           "WHERE producer_component = 'Source'", (str(secret),))

    with caplog.at_level(logging.WARNING):
        result = LocalDagRunner().run(pipeline)

    assert result.status == "COMPLETE"
    states = {r.node_id: r.state for r in result.components}
    assert states["Source"] is ExecutionState.COMPLETE  # refused, so not a cache hit
    assert "cached outputs refused" in caplog.text and str(secret) in caplog.text
    with open_store(pipeline.metadata_url) as store:
        tampered = [a for a in store.list_artifacts(type_name="Examples")
                    if a.uri == str(secret)]
        assert [a.state for a in tampered] == [ArtifactState.ABANDONED]


def test_a_partial_run_refuses_a_skipped_output_outside_the_root(tmp_path):
    source = Source(value=1)
    add = AddOne(x=source.outputs["out"])
    pipeline = make_pipeline(tmp_path, [source, add])
    assert LocalDagRunner().run(pipeline).status == "COMPLETE"
    with sqlite3.connect(tmp_path / "metadata.db") as connection:
        connection.execute("UPDATE artifacts SET uri = '/etc' "
                           "WHERE producer_component = 'Source'")

    result = LocalDagRunner().run(pipeline, from_nodes=["AddOne"], enable_cache=False)

    assert result.status == "FAILED"
    (failed,) = [r for r in result.components if r.node_id == "AddOne"]
    assert "'/etc'" in failed.error and "outside the artifact root" in failed.error


def test_confine_resolves_dot_dot_and_symlinks(tmp_path):
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "link").symlink_to(tmp_path)

    assert confine(str(root / "a"), [root], what="x") == str((root / "a").resolve())
    for escaping in (root / "a" / ".." / "..", root / "link", "/etc", "s3://bucket/x"):
        with pytest.raises(ConfinementError, match="outside"):
            confine(str(escaping), [root], what="x")
