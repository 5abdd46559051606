"""``gristmill run-node``: one node per process, sharing one run through the metadata store."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from orchestrator_fakes import (
    FAKE_PIPELINE,
    AddOne,
    Halter,
    Source,
    diamond,
    gristmill_command,
    make_pipeline,
    read_value,
)

from gristmill.metadata.errors import ConfigError
from gristmill.metadata.store import PIPELINE_RUN, open_store
from gristmill.metadata.types import ExecutionState
from gristmill.orchestrator import Cond, SequentialRunner, publisher
from gristmill.orchestrator.hooks import NodeResult, PipelineHooks, RunInfo
from gristmill.orchestrator.run_node import (
    DUPLICATE,
    DuplicateNodeError,
    ExclusiveNode,
    NodeNotReadyError,
    run_node,
)

pytestmark = pytest.mark.integration
ORDER = ["Source", "left", "right", "Join"]
PG_URL_ENV = "GRISTMILL_TEST_DB_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_url(request, tmp_path):
    """An empty metadata database: SQLite, and PostgreSQL (a fresh schema) when
    ``GRISTMILL_TEST_DB_URL`` is set, as in tests/metadata/conftest.py."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'race.db'}"
        return
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(f"the PostgreSQL variant needs {PG_URL_ENV}")
    import psycopg

    schema, dsn = f"t_{uuid.uuid4().hex[:12]}", "postgresql://" + base.split("://", 1)[1]
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _run_all(pipeline, run_id: str, order=ORDER, **kwargs) -> dict[str, object]:
    return {node: run_node(pipeline, node, run_id, **kwargs) for node in order}


def _run_context(pipeline, run_id: str):
    with open_store(pipeline.metadata_url) as store:
        return store.get_context(PIPELINE_RUN, run_id)


def test_nodes_run_one_by_one_make_one_run_with_the_local_runners_outputs(tmp_path):
    pipeline = make_pipeline(tmp_path, diamond(value=1))
    results = _run_all(pipeline, "r1")
    assert {n: r.state for n, r in results.items()} == dict.fromkeys(ORDER, "COMPLETE")
    assert [r.exit_code for r in results.values()] == [0, 0, 0, 0]
    assert [r.run_status for r in results.values()] == ["RUNNING"] * 3 + ["COMPLETE"]
    with open_store(pipeline.metadata_url) as store:
        join_out = store.get_outputs(results["Join"].execution_id)["out"][0]
        run = store.get_context(PIPELINE_RUN, "r1")
        executions = store.list_executions(run_id="r1")
    assert read_value(join_out) == (1 + 1) + (1 + 2)
    assert run.properties["status"] == "COMPLETE" and run.properties["end_time"]
    assert sorted(e.component_id for e in executions) == sorted(ORDER)
    local = SequentialRunner().run(make_pipeline(tmp_path / "local", diamond(value=1)))
    assert read_value(local.node("Join").outputs["out"][0]) == read_value(join_out)
    assert local.node("Join").outputs["out"][0].fingerprint == join_out.fingerprint


def test_a_node_whose_inputs_are_not_live_fails_fast_and_records_nothing(tmp_path):
    pipeline = make_pipeline(tmp_path, diamond())
    run_node(pipeline, "Source", "r1")
    with pytest.raises(NodeNotReadyError, match=r"run-node Join: run 'r1' .* upstream left "
                       r"\(never ran in this run\), right \(never ran in this run\)"):
        run_node(pipeline, "Join", "r1")
    with open_store(pipeline.metadata_url) as store:
        assert [e.component_id for e in store.list_executions(run_id="r1")] == ["Source"]
    with pytest.raises(NodeNotReadyError, match="upstream Source"):
        run_node(pipeline, "left", "r-new")
    assert _run_context(pipeline, "r-new") is None  # not even the run was recorded


def test_a_failed_upstream_is_not_ready_and_names_its_error(tmp_path):
    flag = tmp_path / "crash"
    flag.write_text("1")
    pipeline = make_pipeline(tmp_path, diamond(fail_flag=str(flag)))
    run_node(pipeline, "Source", "r1")
    failed = run_node(pipeline, "left", "r1")
    assert (failed.state, failed.exit_code, failed.run_status) == ("FAILED", 1, "FAILED")
    with pytest.raises(NodeNotReadyError, match=r"left \(latest execution \d+ is FAILED: .*"
                                                "ZeroDivisionError"):
        run_node(pipeline, "Join", "r1")
    flag.unlink()  # the scheduler's retry of the failed task now succeeds
    assert run_node(pipeline, "left", "r1").state == "COMPLETE"
    statuses = [run_node(pipeline, n, "r1").run_status for n in ("right", "Join")]
    assert statuses == ["RUNNING", "COMPLETE"]


def test_a_node_done_in_this_run_is_not_run_again_and_a_new_run_is_cached(tmp_path):
    pipeline = make_pipeline(tmp_path, diamond())
    first = _run_all(pipeline, "r1")
    again = run_node(pipeline, "left", "r1")
    assert (again.state, again.already_done, again.exit_code) == ("COMPLETE", True, 0)
    assert again.execution_id == first["left"].execution_id
    second = _run_all(pipeline, "r2")
    assert {n: r.state for n, r in second.items()} == dict.fromkeys(ORDER, "CACHED")
    assert second["Join"].outputs == first["Join"].outputs
    with open_store(pipeline.metadata_url) as store:
        assert len(store.list_executions(run_id="r1")) == 4


def test_the_nodes_of_one_run_must_agree_on_pipeline_root_and_params(tmp_path):
    pipeline = make_pipeline(tmp_path, diamond())
    run_node(pipeline, "Source", "r1", params={"value": 1})
    with pytest.raises(ConfigError, match=r"started with params \{'value': '1'\}, but this "
                                          r"node was given params \{'value': '2'\}"):
        run_node(pipeline, "left", "r1", params={"value": 2})
    with pytest.raises(ConfigError, match="started with root"):
        run_node(pipeline.with_options(root=str(tmp_path / "other")), "left", "r1",
                 params={"value": 1})
    other = make_pipeline(tmp_path, diamond(), name="other")
    with pytest.raises(ConfigError, match="started with pipeline 'fake'"):
        run_node(other, "Source", "r1")


def test_a_false_cond_skips_with_airflows_skip_code_and_the_run_completes(tmp_path):
    source = Source(value=1)
    with Cond(source.outputs["out"].future()[0].property("span") > 3):
        gated = AddOne(x=source.outputs["out"]).with_id("gated")
    after = AddOne(x=gated.outputs["out"]).with_id("after")
    pipeline = make_pipeline(tmp_path, [source, gated, after])
    results = _run_all(pipeline, "r1", order=["Source", "gated", "after"])
    assert [(r.state, r.exit_code) for r in results.values()] == [
        ("COMPLETE", 0), ("SKIPPED", 99), ("SKIPPED", 99)]
    assert "Cond(Source.out[0].property('span') > 3) is false" in results["gated"].error
    assert results["after"].run_status == "COMPLETE"


def test_a_halt_cancels_downstream_and_the_run_is_halted(tmp_path):
    source = Source(value=1)
    halter = Halter(x=source.outputs["out"])
    after = AddOne(x=halter.outputs["out"])
    pipeline = make_pipeline(tmp_path, [source, halter, after])
    results = _run_all(pipeline, "r1", order=["Source", "Halter", "AddOne"])
    assert [r.state for r in results.values()] == ["COMPLETE", "COMPLETE", "CANCELED"]
    assert results["AddOne"].exit_code == 1
    assert "halted downstream nodes: the data looked wrong" in results["AddOne"].error
    assert results["AddOne"].run_status == "HALTED"


def test_scheduler_retries_make_one_attempt_per_task(tmp_path):
    flag = tmp_path / "crash"
    flag.write_text("1")
    source = Source(value=1, fail_flag=str(flag)).with_node_execution_options(
        max_execution_retries=2, retry_backoff_sec=0.0)
    pipeline = make_pipeline(tmp_path, [source])
    once = run_node(pipeline, "Source", "r1", scheduler_retries=True)
    in_process = run_node(pipeline, "Source", "r2")
    with open_store(pipeline.metadata_url) as store:
        assert len(store.list_executions(run_id="r1")) == 1
        assert len(store.list_executions(run_id="r2")) == 3
    assert once.state == in_process.state == "FAILED"


def _register(store, pipeline, node_id: str, run_id: str):
    return publisher.register_execution(
        store, component_id=node_id, component_type="AddOne", parameters={}, cache_key=None,
        ingredients={}, context_ids=[], inputs={}, outputs={}, pipeline_name=pipeline.name,
        run_id=run_id)


class _Context:
    def __init__(self, tmp_dir: Path):
        self.tmp_dir = str(tmp_dir)


def _guard(store, pipeline, mine, tmp_path, wait_s: float = 10.0):
    hook = ExclusiveNode(PipelineHooks(), store, "left", wait_s=wait_s, poll_s=0.05)
    info = RunInfo(pipeline.name, "r1", str(tmp_path), pipeline.metadata_url, "")
    result = NodeResult("left", "AddOne", ExecutionState.RUNNING, execution_id=mine.id)
    return lambda: hook.before_node(info, result, _Context(tmp_path / "scratch"))


def test_a_copy_registered_after_a_running_copy_is_refused(tmp_path):
    pipeline = make_pipeline(tmp_path, diamond())
    with open_store(pipeline.metadata_url) as store:
        first = _register(store, pipeline, "left", "r1")
        second = _register(store, pipeline, "left", "r1")
        with pytest.raises(DuplicateNodeError, match=f"already RUNNING as execution {first.id}"):
            _guard(store, pipeline, second, tmp_path)()
        refused = store.get_execution(second.id)
        assert refused.state is ExecutionState.CANCELED and refused.error.startswith(DUPLICATE)


@pytest.mark.parametrize("later_outcome", ["refused", "published"])
def test_a_copy_waits_for_a_later_copy_and_never_both_publish(tmp_path, later_outcome):
    """The later copy did not see this one (PostgreSQL commit order): it either refuses
    (this copy goes on) or publishes (this copy is refused)."""
    pipeline = make_pipeline(tmp_path, diamond())
    with open_store(pipeline.metadata_url) as store:
        mine = _register(store, pipeline, "left", "r1")
        later = _register(store, pipeline, "left", "r1")
        outcome: dict[str, object] = {}

        def guarded():
            try:
                _guard(store, pipeline, mine, tmp_path)()
                outcome["went_on"] = True
            except DuplicateNodeError as e:
                outcome["refused"] = e

        thread = threading.Thread(target=guarded)
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive(), "it must wait while the later copy is undecided"
        if later_outcome == "refused":
            publisher.publish_canceled(store, later, f"{DUPLICATE}saw {mine.id}")
        else:
            store.publish_execution(later.id, state=ExecutionState.COMPLETE)
        thread.join(10)
        if later_outcome == "refused":
            assert outcome == {"went_on": True}
        else:
            assert outcome["refused"].rival.id == later.id
            assert store.get_execution(mine.id).state is ExecutionState.CANCELED


def _cli(tmp_path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(FAKE_PIPELINE.parent)}
    return subprocess.Popen(
        gristmill_command("run-node", str(FAKE_PIPELINE), *args, f"--param=root={tmp_path}/root",
                          f"--param=metadata_url=sqlite:///{tmp_path}/m.db", "--json"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finish(process: subprocess.Popen) -> tuple[int, dict, str]:
    out, err = process.communicate(timeout=120)
    last = out.strip().splitlines()[-1] if out.strip() else "{}"
    return process.returncode, json.loads(last), err


@pytest.mark.slow
def test_cli_processes_share_one_run_and_two_copies_never_both_publish(tmp_path):
    block, marker = tmp_path / "block", tmp_path / "started"
    block.write_text("hold")
    extra = [f"--param=block_file={block}", f"--param=started_marker={marker}"]
    code, early, err = _finish(_cli(tmp_path, "Join", "--run-id", "r1", *extra))
    assert code == 2 and "no LIVE outputs yet from upstream left" in err
    for node in ORDER:
        code, line, err = _finish(_cli(tmp_path, node, "--run-id", "r1", *extra))
        assert (code, line["state"]) == (0, "COMPLETE"), err
    first = _cli(tmp_path, "Blocker", "--run-id", "r1", *extra)
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.05)
    second_copy = _cli(tmp_path, "Blocker", "--run-id", "r1", *extra)
    with open_store(f"sqlite:///{tmp_path}/m.db") as store:
        while time.time() < deadline and not any(
                e.state is ExecutionState.CANCELED
                for e in store.list_executions(run_id="r1", component_id="Blocker")):
            time.sleep(0.1)  # until the second copy has been refused
    block.unlink()
    code, second, err = _finish(second_copy)
    assert (code, second["state"], second["already_done"]) == (0, "REFUSED", True), err
    assert "duplicate: node Blocker of run 'r1' is already RUNNING" in second["error"]
    code, winner, err = _finish(first)
    assert (code, winner["state"], winner["run_status"]) == (0, "COMPLETE", "COMPLETE"), err
    with open_store(f"sqlite:///{tmp_path}/m.db") as store:
        states = [e.state for e in store.list_executions(run_id="r1", component_id="Blocker")]
        published = [a for e in store.list_executions(run_id="r1", component_id="Blocker")
                     for a in store.get_outputs(e.id).get("out", []) if a.state.value == "LIVE"]
    assert states == [ExecutionState.COMPLETE, ExecutionState.CANCELED]
    assert len(published) == 1


@pytest.mark.slow
def test_copies_started_at_once_race_and_exactly_one_publishes(tmp_path, backend_url):
    """Four processes run the same node of the same run at the same moment, on SQLite and
    on PostgreSQL (whose ids do not follow commit order): one publishes, none twice."""
    # one declared identity for the in-process pipeline and fake_pipeline.py's (same name)
    pipeline = make_pipeline(tmp_path, diamond(), pipeline_id="diamond").with_options(
        metadata_url=backend_url)
    params = {"root": str(tmp_path / "root"), "metadata_url": backend_url,
              "pipeline_id": "diamond"}  # as the CLI's
    for node in ("Source", "left", "right"):
        run_node(pipeline, node, "r1", params=params)
    env = {**os.environ, "PYTHONPATH": str(FAKE_PIPELINE.parent)}
    copies = [subprocess.Popen(
        gristmill_command("run-node", str(FAKE_PIPELINE), "Join", "--run-id", "r1",
                          f"--param=root={tmp_path / 'root'}", "--json",
                          f"--param=metadata_url={backend_url}", "--param=pipeline_id=diamond"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(4)]
    outcomes = [_finish(p) for p in copies]
    assert all(code == 0 for code, _, _ in outcomes), [err for _, _, err in outcomes]
    with open_store(backend_url) as store:
        joins = store.list_executions(run_id="r1", component_id="Join")
        live = {a.id for e in joins for a in store.get_outputs(e.id).get("out", [])
                if a.state.value == "LIVE"}
        status = store.get_context(PIPELINE_RUN, "r1").properties["status"]
    succeeded = [e for e in joins if e.state.succeeded]
    assert len(succeeded) == 1 and len(live) == 1, [(e.id, e.state, e.error) for e in joins]
    assert all(e.state is ExecutionState.CANCELED and e.error.startswith(DUPLICATE)
               for e in joins if e not in succeeded)
    # a refused copy waits for the winner, and its success is the refused copy's
    assert sorted(line["state"] for _, line, _ in outcomes if not line["already_done"]) == [
        "COMPLETE"]
    assert status == "COMPLETE"
