"""Contract tests of the metadata store: cache look-up, stale recovery, events and lineage."""

from __future__ import annotations

import pytest

from gristmill.metadata.errors import StoreError
from gristmill.metadata.standard_artifacts import Examples, Model, ModelBlessing, Schema
from gristmill.metadata.types import ArtifactState, EventType, ExecutionState

pytestmark = pytest.mark.integration

COMPLETE, FAILED, CACHED = ExecutionState.COMPLETE, ExecutionState.FAILED, ExecutionState.CACHED


def test_find_cached_execution_returns_the_newest_complete_one(store, run_step):
    assert store.find_cached_execution("k") is None
    older = run_step("Trainer", outputs={"model": [Model()]}, cache_key="k")
    newer = run_step("Trainer", outputs={"model": [Model()]}, cache_key="k")
    run_step("Trainer", outputs={"model": [Model()]}, cache_key="k", state=FAILED)
    run_step("Trainer", outputs={"model": [Model()]}, cache_key="other")

    assert store.find_cached_execution("k").id == newer.id
    assert older.id < newer.id


def test_find_cached_execution_skips_executions_with_outputs_not_live(store, run_step):
    kept, gone = Model(), Model()
    older = run_step("Trainer", outputs={"model": [kept]}, cache_key="k")
    run_step("Trainer", outputs={"model": [gone], "extra": [Model()]}, cache_key="k")
    store.set_artifact_state(gone.id, ArtifactState.DELETED)

    assert store.find_cached_execution("k").id == older.id
    store.set_artifact_state(kept.id, ArtifactState.DELETED)
    assert store.find_cached_execution("k") is None


def test_find_cached_execution_ignores_running_executions(store, run_step):
    run_step("Trainer", outputs={"model": [Model()]}, cache_key="k", state=None)

    assert store.find_cached_execution("k") is None


def test_a_cached_execution_is_itself_a_cache_candidate(store, run_step):
    original = Model()
    run_step("Trainer", outputs={"model": [original]}, cache_key="k")
    record = run_step("Trainer", outputs={"model": [Model()]}, cache_key="k", state=None)
    store.publish_execution(record.id, state=CACHED, outputs={"model": [original]})

    assert store.find_cached_execution("k").id == record.id
    store.set_artifact_state(original.id, ArtifactState.DELETED)
    assert store.find_cached_execution("k") is None


def test_recover_stale_executions_fails_dead_ones_only(store, run_step):
    dead_model, live_model = Model(), Model()
    dead = run_step("Trainer", outputs={"model": [dead_model]}, state=None)
    alive = run_step("Evaluator", outputs={"evaluation": [live_model]}, state=None)
    finished = run_step("Pusher", outputs={"pushed_model": [Model()]})
    asked = []

    def is_alive(record):
        asked.append(record.id)
        return record.id != dead.id

    recovered = store.recover_stale_executions(is_alive)

    assert sorted(asked) == sorted([dead.id, alive.id]) and finished.id not in asked
    assert [r.id for r in recovered] == [dead.id]
    assert recovered[0].state is FAILED and recovered[0].end_time is not None
    assert recovered[0].error.startswith(f"process {dead.pid} on {dead.host} died; recovered at ")
    assert store.get_artifacts([dead_model.id])[0].state is ArtifactState.ABANDONED
    assert store.get_execution(alive.id).state is ExecutionState.RUNNING
    assert store.get_artifacts([live_model.id])[0].state is ArtifactState.PENDING
    assert store.recover_stale_executions(lambda r: True) == []


def _chain(run_step):
    """raw -> ExampleGen -> examples -> SchemaGen -> schema -> Trainer -> model -> Evaluator."""
    examples, schema, model, blessing = Examples(), Schema(), Model(), ModelBlessing()
    run_step("ExampleGen", outputs={"examples": [examples]})
    run_step("SchemaGen", inputs={"examples": [examples]}, outputs={"schema": [schema]})
    run_step("Trainer", inputs={"examples": [examples], "schema": [schema]},
             outputs={"model": [model]})
    run_step("Evaluator", inputs={"model": [model], "examples": [examples]},
             outputs={"blessing": [blessing]})
    return examples, schema, model, blessing


def test_lineage_upstream_follows_hops(store, run_step):
    examples, schema, model, blessing = _chain(run_step)

    one = store.get_lineage(model.id, direction="upstream", hops=1)
    two = store.get_lineage(model.id, direction="upstream", hops=2)

    assert {a.id for a in one.artifacts} == {model.id, examples.id, schema.id}
    assert [e.component_id for e in one.executions] == ["Trainer"]
    assert [e.component_id for e in two.executions] == ["ExampleGen", "SchemaGen", "Trainer"]
    assert {a.id for a in two.artifacts} == {model.id, examples.id, schema.id}
    assert {(e.type, e.key) for e in one.events} == {
        (EventType.OUTPUT, "model"), (EventType.INPUT, "examples"), (EventType.INPUT, "schema")}


def test_lineage_downstream_and_both(store, run_step):
    examples, schema, model, blessing = _chain(run_step)

    down1 = store.get_lineage(examples.id, direction="downstream", hops=1)
    down2 = store.get_lineage(examples.id, direction="downstream", hops=2)
    both = store.get_lineage(model.id, direction="both", hops=1)

    assert {e.component_id for e in down1.executions} == {"SchemaGen", "Trainer", "Evaluator"}
    assert {a.id for a in down1.artifacts} == {examples.id, schema.id, model.id, blessing.id}
    assert {e.component_id for e in down2.executions} == {"SchemaGen", "Trainer", "Evaluator"}
    assert {e.component_id for e in both.executions} == {"Trainer", "Evaluator"}
    assert {a.id for a in both.artifacts} == {examples.id, schema.id, model.id, blessing.id}
    assert store.get_lineage(blessing.id, direction="downstream").executions == []


def test_lineage_rejects_bad_direction_and_unknown_artifact(store, run_step):
    examples, *_ = _chain(run_step)

    with pytest.raises(StoreError, match=r"direction must be one of .* got 'sideways'"):
        store.get_lineage(examples.id, direction="sideways")
    with pytest.raises(StoreError, match=r"no artifact with id \[999999\]"):
        store.get_lineage(999999)


def test_get_events_filters_by_execution_and_artifact(store, run_step):
    examples, schema, model, _ = _chain(run_step)
    trainer = store.list_executions(component_id="Trainer")[0]

    by_artifact = store.get_events(artifact_id=examples.id)
    both = store.get_events(execution_id=trainer.id, artifact_id=examples.id)

    assert [(e.type, e.key) for e in by_artifact] == [
        (EventType.OUTPUT, "examples"), (EventType.INPUT, "examples"),
        (EventType.INPUT, "examples"), (EventType.INPUT, "examples")]
    assert [(e.execution_id, e.type) for e in both] == [(trainer.id, EventType.INPUT)]
    assert store.get_inputs(trainer.id)["schema"][0].id == schema.id
    assert store.get_outputs(trainer.id)["model"][0].id == model.id
