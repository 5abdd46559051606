"""Contract tests of the metadata store: contexts, executions, publishing, artifacts.

Written once against the ``store`` fixture, which runs them on SQLite and, when
``GRISTMILL_TEST_DB_URL`` is set, on PostgreSQL.
"""

from __future__ import annotations

import os
import socket

import pytest

from gristmill.metadata.errors import StoreError
from gristmill.metadata.standard_artifacts import Examples, Model, Schema
from gristmill.metadata.types import (
    Artifact,
    ArtifactState,
    EventType,
    ExecutionState,
    register_artifact_type,
)

pytestmark = pytest.mark.integration

COMPLETE, FAILED, CACHED = ExecutionState.COMPLETE, ExecutionState.FAILED, ExecutionState.CACHED


def test_put_context_gets_or_creates_and_merges_properties(store):
    first = store.put_context("pipeline", "penguin", {"root": "/a"})
    again = store.put_context("pipeline", "penguin", {"owner": "me"})
    other = store.put_context("pipeline_run", "penguin", None)

    assert again.id == first.id
    assert again.properties == {"root": "/a", "owner": "me"}
    assert other.id != first.id
    assert store.get_context("pipeline", "penguin").properties == {"root": "/a", "owner": "me"}
    assert store.get_context("pipeline", "absent") is None


def test_list_contexts_returns_one_type_newest_first(store):
    for name in ("r1", "r2", "r3"):
        store.put_context("pipeline_run", name)
    store.put_context("node", "r4")

    assert [c.name for c in store.list_contexts("pipeline_run")] == ["r3", "r2", "r1"]


def test_register_execution_writes_pending_outputs_events_and_contexts(store, run_step):
    examples = Examples(properties={"split_names": ["train", "eval"]})
    gen = run_step("ExampleGen", outputs={"examples": [examples]})
    schema = Schema()
    record = run_step("SchemaGen", inputs={"statistics": [examples], "examples": [examples]},
                      outputs={"schema": [schema]}, state=None)

    assert record.state is ExecutionState.RUNNING
    assert (record.pid, record.host) == (os.getpid(), socket.gethostname())
    assert record.start_time is not None and record.end_time is None
    assert record.parameters == {"p": 1} and record.cache_ingredients == {"code": "v1"}
    assert schema.id is not None and schema.state is ArtifactState.PENDING
    assert (schema.producer_component, schema.output_key) == ("SchemaGen", "schema")
    stored = store.get_artifacts([schema.id])[0]
    assert isinstance(stored, Schema) and stored.state is ArtifactState.PENDING
    events = {(e.type, e.key, e.artifact_id) for e in store.get_events(execution_id=record.id)}
    assert events == {(EventType.INPUT, "statistics", examples.id),
                      (EventType.INPUT, "examples", examples.id),
                      (EventType.OUTPUT, "schema", schema.id)}
    run = store.get_context("pipeline_run", "run-1")
    assert {a.id for a in store.list_artifacts(context_id=run.id)} == {examples.id, schema.id}
    assert gen.id < record.id


def test_register_execution_rejects_unsaved_inputs_and_unknown_contexts(store, run_step):
    with pytest.raises(StoreError, match=r"inputs \['examples\[0\]'\] have no store id"):
        run_step("Trainer", inputs={"examples": [Examples("/x")]})
    with pytest.raises(StoreError, match=r"unknown context ids \[424242\]"):
        run_step("Trainer", context_ids=[424242])
    assert store.list_executions() == []


def test_register_execution_names_unknown_input_artifacts_and_writes_nothing(store, run_step):
    # Registration relies on the foreign keys (no existence query first): the refusal must
    # still name the bad ids, and leave no execution, artifact or event behind.
    ghost = Examples("/ghost")
    ghost.id = 987654
    with pytest.raises(StoreError, match=r"unknown input artifact ids \[987654\], unknown "
                                         r"context ids \[424243\]"):
        run_step("Trainer", inputs={"examples": [ghost]}, outputs={"model": [Model()]},
                 context_ids=[424243])
    with pytest.raises(StoreError, match=r"unknown input artifact ids \[987654\]"):
        run_step("Trainer", inputs={"examples": [ghost]}, outputs={"model": [Model()]})
    assert store.list_executions() == []
    assert store.list_artifacts() == []


def test_publish_complete_makes_outputs_live_with_final_values(store, run_step):
    parts = [Examples(), Examples(), Examples()]
    record = run_step("ExampleGen", outputs={"examples": parts}, state=None)
    for i, artifact in enumerate(parts):
        artifact.uri = f"/root/ExampleGen/examples/{record.id}/{i}"
        artifact.set_property("row_counts", {"train": i})
        artifact.set_custom_property("note", f"n{i}")
        artifact.fingerprint = f"blake2b:{i}"

    done = store.publish_execution(record.id, state=COMPLETE, outputs={"examples": parts},
                                   custom_properties={"seconds": 1.5})

    assert done.state is COMPLETE and done.end_time >= done.start_time
    assert done.custom_properties == {"seconds": 1.5}
    outputs = store.get_outputs(record.id)["examples"]
    assert [a.uri for a in outputs] == [f"/root/ExampleGen/examples/{record.id}/{i}"
                                        for i in range(3)]
    assert [a.get_property("row_counts") for a in outputs] == [{"train": i} for i in range(3)]
    assert [a.fingerprint for a in outputs] == ["blake2b:0", "blake2b:1", "blake2b:2"]
    assert all(isinstance(a, Examples) and a.state is ArtifactState.LIVE for a in outputs)
    assert [e.index for e in store.get_events(execution_id=record.id)] == [0, 1, 2]
    assert parts[0].state is ArtifactState.LIVE


def test_publish_failed_abandons_outputs_and_keeps_the_error(store, run_step):
    model = Model()
    record = run_step("Trainer", outputs={"model": [model]}, state=FAILED)

    assert record.state is FAILED and record.error == "boom"
    assert store.get_artifacts([model.id])[0].state is ArtifactState.ABANDONED


def test_publish_cached_links_the_reused_outputs(store, run_step):
    original = Model()
    run_step("Trainer", outputs={"model": [original]}, cache_key="k1")
    second_run = store.put_context("pipeline_run", "run-2")
    placeholder = Model()
    record = run_step("Trainer", outputs={"model": [placeholder]}, state=None,
                      context_ids=[second_run.id], run_id="run-2")

    cached = store.publish_execution(record.id, state=CACHED,
                                     outputs={"model": [store.get_artifacts([original.id])[0]]})

    assert cached.state is CACHED
    assert [a.id for a in store.get_outputs(record.id)["model"]] == [original.id]
    assert store.get_artifacts([placeholder.id])[0].state is ArtifactState.ABANDONED
    assert [a.id for a in store.list_artifacts(context_id=second_run.id,
                                               states=[ArtifactState.LIVE])] == [original.id]


def test_publish_cached_refuses_artifacts_that_are_not_live(store, run_step):
    dead = Model()
    run_step("Trainer", outputs={"model": [dead]}, state=FAILED)
    record = run_step("Trainer", outputs={"model": [Model()]}, state=None)

    with pytest.raises(StoreError, match=r"reused artifacts must be LIVE, got \{\d+: 'ABANDONED'"):
        store.publish_execution(record.id, state=CACHED, outputs={"model": [dead]})
    assert store.get_execution(record.id).state is ExecutionState.RUNNING


def test_publish_twice_or_with_foreign_outputs_raises(store, run_step):
    foreign = Model()
    run_step("Trainer", outputs={"model": [foreign]}, state=None)
    mine = Model()
    record = run_step("Pusher", outputs={"model": [mine]}, state=None)

    with pytest.raises(StoreError, match=r"output model\[0\] \(artifact id \d+\) is not a "
                                         r"PENDING output registered under 'model'"):
        store.publish_execution(record.id, state=COMPLETE, outputs={"model": [foreign]})
    store.publish_execution(record.id, state=COMPLETE, outputs={"model": [mine]})
    with pytest.raises(StoreError, match=r"is already COMPLETE; it cannot be published as "
                                         r"FAILED"):
        store.publish_execution(record.id, state=FAILED, error="late")
    with pytest.raises(StoreError, match="state must be one of"):
        store.publish_execution(record.id, state=ExecutionState.RUNNING)


def test_publish_complete_without_outputs_promotes_what_was_registered(store, run_step):
    model = Model("/m")
    record = run_step("Trainer", outputs={"model": [model]}, state=None)

    store.publish_execution(record.id, state=COMPLETE)

    assert store.get_artifacts([model.id])[0].state is ArtifactState.LIVE


def test_get_artifacts_keeps_the_order_given_and_names_unknown_ids(store, run_step):
    a, b, c = Examples(), Schema(), Model()
    run_step("X", outputs={"a": [a], "b": [b], "c": [c]})

    assert [x.id for x in store.get_artifacts([c.id, a.id, b.id, a.id])] == [c.id, a.id, b.id,
                                                                             a.id]
    with pytest.raises(StoreError, match=r"no artifact with id \[999999\]"):
        store.get_artifacts([a.id, 999999])
    with pytest.raises(StoreError, match=r"no execution with id 999999"):
        store.get_execution(999999)
    with pytest.raises(StoreError, match=r"no artifact with id 999999"):
        store.set_artifact_state(999999, ArtifactState.DELETED)


def test_list_filters_combine(store, run_step):
    ex1, ex2, model = Examples(), Examples(), Model()
    run_step("ExampleGen", outputs={"examples": [ex1]})
    run_step("ExampleGen", outputs={"examples": [ex2]}, state=FAILED, run_id="run-2")
    run_step("Trainer", inputs={"examples": [ex1]}, outputs={"model": [model]})
    store.set_artifact_state(model.id, ArtifactState.DELETED)

    assert [a.id for a in store.list_artifacts(type_name="Examples")] == [ex2.id, ex1.id]
    assert [a.id for a in store.list_artifacts(states=[ArtifactState.LIVE])] == [ex1.id]
    assert [a.id for a in store.list_artifacts(producer_component="Trainer")] == [model.id]
    assert store.list_artifacts(type_name="Examples", states=[ArtifactState.DELETED]) == []
    assert [e.component_id for e in store.list_executions()] == ["ExampleGen", "ExampleGen",
                                                                 "Trainer"]
    assert len(store.list_executions(run_id="run-1")) == 2
    assert len(store.list_executions(component_id="ExampleGen", states=[FAILED])) == 1
    assert store.list_executions(pipeline_name="other") == []


def test_artifact_types_keep_their_property_schema(store, run_step):
    @register_artifact_type
    class Gauge(Artifact):
        TYPE_NAME = "ContractGauge"
        PROPERTIES = {"level": "int"}

    gauge = Gauge(properties={"level": 3})
    run_step("Meter", outputs={"gauge": [gauge]})
    loaded = store.get_artifacts([gauge.id])[0]
    assert type(loaded) is Gauge and loaded.get_property("level") == 3

    Gauge.PROPERTIES = {"level": "float"}
    try:
        with pytest.raises(StoreError, match=r"ContractGauge: property kinds \{'level': "
                                             r"\('int', 'float'\)\}"):
            run_step("Meter", outputs={"gauge": [Gauge()]})
    finally:
        Gauge.PROPERTIES = {"level": "int"}
