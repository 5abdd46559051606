"""Runners on a real SQLite store: caching, re-runs, failures, halts and partial runs."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from pathlib import Path

import pytest
from orchestrator_fakes import (
    AddOne,
    Counter,
    Crasher,
    Halter,
    Raiser,
    Source,
    diamond,
    fan_out_fan_in,
    linear,
    make_pipeline,
    read_value,
    two_branches,
)

from gristmill.components import OutputArtifact, component
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.standard_artifacts import Examples
from gristmill.metadata.store import NODE, PIPELINE, PIPELINE_RUN
from gristmill.metadata.types import ArtifactState, EventType, ExecutionState
from gristmill.orchestrator import LocalDagRunner, SequentialRunner
from gristmill.orchestrator.hooks import PipelineHooks

pytestmark = pytest.mark.integration
GRAPHS = {"linear": linear, "diamond": diamond, "fan_out_fan_in": fan_out_fan_in}
RUNNERS = {"sequential": SequentialRunner, "local_dag": LocalDagRunner}


def _states(result) -> dict[str, str]:
    return {r.node_id: r.state.value for r in result.components}


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("graph", GRAPHS)
def test_second_identical_run_is_fully_cached(tmp_path, graph, runner, open_test_store):
    components = GRAPHS[graph]()
    first = RUNNERS[runner]().run(make_pipeline(tmp_path, components))
    assert first.status == "COMPLETE"
    assert set(_states(first).values()) == {"COMPLETE"}
    second = RUNNERS[runner]().run(make_pipeline(tmp_path, GRAPHS[graph]()))
    assert second.status == "COMPLETE"
    assert set(_states(second).values()) == {"CACHED"}
    for node in second.components:  # the very artifacts of the first run are reused
        assert node.outputs == {} or [a.id for a in node.outputs["out"]] == [
            a.id for a in first.node(node.node_id).outputs["out"]]
    with open_test_store() as store:  # cached executions are recorded too
        assert len(store.list_executions(run_id=second.run_id)) == len(components)
        cached = store.list_executions(run_id=second.run_id)[0]
        assert cached.custom_properties["cached_from_execution"] == first.components[0].execution_id


def test_outputs_flow_between_components(tmp_path):
    result = LocalDagRunner().run(make_pipeline(tmp_path, fan_out_fan_in(value=10)))
    joined = result.node("Join").outputs["out"][0]
    assert read_value(joined) == 11 + 12 + 13
    assert result.node("Join").metrics == {"total": 36.0}
    assert joined.uri.startswith(str(tmp_path / "root" / "Join" / "out"))
    assert not os.listdir(tmp_path / "root" / ".staging")  # every staging dir was promoted


def test_changing_a_parameter_reruns_that_component_and_its_descendants(tmp_path):
    SequentialRunner().run(make_pipeline(tmp_path, diamond(left_inc=1)))
    changed = SequentialRunner().run(make_pipeline(tmp_path, diamond(left_inc=5)))
    assert _states(changed) == {"Source": "CACHED", "left": "COMPLETE", "right": "CACHED",
                                "Join": "COMPLETE"}
    assert read_value(changed.node("Join").outputs["out"][0]) == 6 + 3


def test_changing_the_root_parameter_reruns_everything_downstream(tmp_path):
    SequentialRunner().run(make_pipeline(tmp_path, linear(value=1)))
    changed = SequentialRunner().run(make_pipeline(tmp_path, linear(value=2)))
    assert set(_states(changed).values()) == {"COMPLETE"}


def test_disabling_the_cache_reruns_everything(tmp_path):
    SequentialRunner().run(make_pipeline(tmp_path, diamond()))
    again = SequentialRunner().run(make_pipeline(tmp_path, diamond()), enable_cache=False)
    assert set(_states(again).values()) == {"COMPLETE"}
    off = SequentialRunner().run(make_pipeline(tmp_path, diamond(), enable_cache=False))
    assert set(_states(off).values()) == {"COMPLETE"}


def test_store_records_contexts_events_and_lineage(tmp_path, open_test_store):
    result = SequentialRunner().run(make_pipeline(tmp_path, diamond()))
    joined = result.node("Join").outputs["out"][0]
    with open_test_store() as store:
        assert store.get_context(PIPELINE, "fake").properties["root"] == str(tmp_path / "root")
        run_ctx = store.get_context(PIPELINE_RUN, result.run_id)
        assert run_ctx.properties["status"] == "COMPLETE"
        assert store.get_context(NODE, "fake.Join") is not None
        artifact = store.get_artifacts([joined.id])[0]
        assert artifact.state is ArtifactState.LIVE and artifact.fingerprint
        assert artifact.producer_component == "Join"
        graph = store.get_lineage(joined.id, direction="upstream", hops=3)
        assert {e.component_id for e in graph.executions} == {"Source", "left", "right",
                                                               "Join"}
        inputs = store.get_inputs(result.node("Join").execution_id)
        assert [a.id for a in inputs["a"]] == [a.id for a in result.node("left").outputs["out"]]
        events = store.get_events(execution_id=result.node("Join").execution_id)
        assert sorted(e.type.value for e in events) == ["INPUT", "INPUT", "OUTPUT"]
        assert all(e.type in (EventType.INPUT, EventType.OUTPUT) for e in events)


@pytest.mark.parametrize("runner", RUNNERS)
def test_crash_fails_the_run_cancels_descendants_and_spares_other_branches(tmp_path, runner):
    flag = tmp_path / "crash"
    flag.touch()
    result = RUNNERS[runner]().run(make_pipeline(tmp_path, two_branches(str(flag))),
                                   resume_command="gristmill run p.py")
    assert result.status == "FAILED"
    assert _states(result) == {"Source": "COMPLETE", "bad": "FAILED", "after_bad": "CANCELED",
                               "good": "COMPLETE", "after_good": "COMPLETE"}
    bad = result.node("bad")
    assert bad.error.startswith("bad (AddOne) raised ZeroDivisionError: AddOne was told to "
                                "crash by")
    assert "Traceback (most recent call last)" not in bad.error
    assert "fail_if_flagged" in bad.error  # the tail points at the user's code
    assert result.node("after_bad").error == "upstream bad failed"
    assert result.resume_command == "gristmill run p.py"
    assert not os.listdir(tmp_path / "root" / ".staging")  # failed staging dirs are removed


def test_resume_after_the_fix_takes_completed_components_from_cache(tmp_path):
    flag = tmp_path / "crash"
    flag.touch()
    SequentialRunner().run(make_pipeline(tmp_path, two_branches(str(flag))))
    flag.unlink()
    resumed = SequentialRunner().run(make_pipeline(tmp_path, two_branches(str(flag))))
    assert resumed.status == "COMPLETE" and resumed.resume_command is None
    assert _states(resumed) == {"Source": "CACHED", "bad": "COMPLETE", "after_bad": "COMPLETE",
                                "good": "CACHED", "after_good": "CACHED"}


@pytest.mark.parametrize("failing,message", [
    (Crasher, "crasher (Crasher) raised ZeroDivisionError: integer division or modulo by zero"),
    (Raiser, "Raiser: input.csv line 3: expected a number, got 'abc'. Fix: correct line 3")])
def test_executor_errors_are_recorded(tmp_path, failing, message, open_test_store):
    counter = Counter()
    node = failing(examples=counter.outputs["examples"]).with_id(failing.__name__.lower())
    after = AddOne(x=node.outputs["examples"]).with_id("after")
    result = SequentialRunner().run(make_pipeline(tmp_path, [counter, node, after]))
    error = result.node(node.id).error
    assert error.startswith(message)
    assert "Traceback" not in error
    with open_test_store() as store:
        execution = store.get_execution(result.node(node.id).execution_id)
        assert execution.state is ExecutionState.FAILED and execution.error == error
        outputs = store.get_outputs(execution.id)
        assert [a.state for a in outputs["examples"]] == [ArtifactState.ABANDONED]
        canceled = store.get_execution(result.node("after").execution_id)
        assert canceled.state is ExecutionState.CANCELED


def test_halt_downstream_cancels_descendants_even_when_cached(tmp_path):
    def build():
        source = Source()
        halter = Halter(x=source.outputs["out"])
        after = AddOne(x=halter.outputs["out"]).with_id("after")
        beside = AddOne(x=source.outputs["out"]).with_id("beside")
        return [source, halter, after, beside]

    for expected_halter in ("COMPLETE", "CACHED"):
        result = SequentialRunner().run(make_pipeline(tmp_path, build()))
        assert _states(result) == {"Source": result.node("Source").state.value,
                                   "Halter": expected_halter, "after": "CANCELED",
                                   "beside": result.node("beside").state.value}
        assert result.node("after").error == ("upstream Halter halted downstream nodes: the "
                                              "data looked wrong")
        assert result.node("beside").state.succeeded
        assert result.status == "HALTED"  # not FAILED: re-running the same data won't help
        assert result.resume_command is None


def test_partial_run_from_a_node_reuses_latest_outputs_of_skipped_nodes(tmp_path,
                                                                        open_test_store):
    full = SequentialRunner().run(make_pipeline(tmp_path, diamond(left_inc=1)))
    partial = SequentialRunner().run(make_pipeline(tmp_path, diamond(left_inc=7)),
                                     from_nodes=["left"])
    assert _states(partial) == {"left": "COMPLETE", "Join": "COMPLETE"}
    assert read_value(partial.node("Join").outputs["out"][0]) == 8 + 3
    with open_test_store() as store:
        inputs = store.get_inputs(partial.node("Join").execution_id)
        assert [a.id for a in inputs["b"]] == [a.id for a in full.node("right").outputs["out"]]
        left_inputs = store.get_inputs(partial.node("left").execution_id)
        assert [a.id for a in left_inputs["x"]] == [
            a.id for a in full.node("Source").outputs["out"]]


def test_partial_run_to_a_node_runs_only_its_ancestors(tmp_path):
    result = SequentialRunner().run(make_pipeline(tmp_path, diamond()), to_nodes=["left"])
    assert _states(result) == {"Source": "COMPLETE", "left": "COMPLETE"}
    between = SequentialRunner().run(make_pipeline(tmp_path, diamond()), from_nodes=["right"],
                                     to_nodes=["Join"])
    assert _states(between) == {"right": "COMPLETE", "Join": "COMPLETE"}


def test_partial_run_needs_skipped_nodes_to_have_succeeded(tmp_path):
    with pytest.raises(ConfigError, match=r"node 'Source' is skipped but has never succeeded"):
        SequentialRunner().run(make_pipeline(tmp_path, diamond()), from_nodes=["left"])


def test_partial_run_with_an_unknown_node_suggests_one(tmp_path):
    with pytest.raises(ConfigError, match=r"has no node 'lefft'\. Did you mean 'left'\?"):
        SequentialRunner().run(make_pipeline(tmp_path, diamond()), from_nodes=["lefft"])


def test_hooks_see_every_node_and_a_failing_hook_never_fails_the_run(tmp_path):
    class Recording(PipelineHooks):
        def __init__(self):
            self.calls: list[str] = []

        def before_pipeline_run(self, run):
            self.calls.append("start")

        def after_node(self, run, result, context):
            self.calls.append(f"{result.node_id}:{result.state.value}")

        def after_pipeline_run(self, run, status, results):
            self.calls.append(status)

    class Broken(PipelineHooks):
        def before_node(self, run, result, context):
            raise RuntimeError("hook bug")

    recording = Recording()
    result = SequentialRunner(hooks=[Broken(), recording]).run(
        make_pipeline(tmp_path, linear()))
    assert result.status == "COMPLETE"
    assert recording.calls == ["start", "Source:COMPLETE", "step1:COMPLETE", "step2:COMPLETE",
                               "COMPLETE"]


def test_run_result_json_shape(tmp_path):
    data = SequentialRunner().run(make_pipeline(tmp_path, linear())).to_dict()
    assert {"run_id", "status", "components", "root", "seconds"} <= set(data)
    first = data["components"][0]
    assert {"name", "state", "seconds", "outputs"} <= set(first)
    assert first["outputs"]["out"][0]["uri"].startswith(str(tmp_path / "root"))


def test_an_orchestrator_side_error_fails_only_that_node(tmp_path, open_test_store):
    class BrokenExternal(Counter):
        """Fingerprinting its external inputs fails (an orchestrator-side step)."""

        def fingerprint_external_inputs(self):
            raise RuntimeError("cannot list the input bucket")

    @component
    def DanglingLink(out: OutputArtifact[Examples]) -> None:
        """Writes an output whose fingerprinting fails after registration."""
        os.symlink("/no/such/target", os.path.join(out.uri, "link"))

    components = [BrokenExternal(), DanglingLink(), *linear()]
    result = LocalDagRunner().run(make_pipeline(tmp_path, components))
    assert result.status == "FAILED"
    assert _states(result) == {"BrokenExternal": "FAILED", "DanglingLink": "FAILED",
                               "Source": "COMPLETE", "step1": "COMPLETE", "step2": "COMPLETE"}
    # Raised in the user's own component class: their error, their line first.
    broken = result.node("BrokenExternal")
    assert broken.error.startswith("BrokenExternal (BrokenExternal) raised RuntimeError: "
                                   "cannot list the input bucket")
    assert "in fingerprint_external_inputs" in broken.error and not broken.internal_error
    # Raised inside Gristmill (fingerprinting the outputs): a Gristmill bug, logged.
    assert result.node("DanglingLink").internal_error
    assert os.path.isfile(result.node("DanglingLink").bug_log)
    with open_test_store() as store:
        assert store.list_executions(states=[ExecutionState.RUNNING]) == []
        link = store.get_execution(result.node("DanglingLink").execution_id)
        assert link.state is ExecutionState.FAILED
        assert store.get_context(PIPELINE_RUN, result.run_id).properties["status"] == "FAILED"


def test_partial_run_with_a_deleted_skipped_output_fails_that_node_clearly(tmp_path):
    full = SequentialRunner().run(make_pipeline(tmp_path, diamond()))
    shutil.rmtree(full.node("Source").outputs["out"][0].uri)
    partial = SequentialRunner().run(make_pipeline(tmp_path, diamond(left_inc=4)),
                                     from_nodes=["left"])
    assert _states(partial) == {"left": "FAILED", "Join": "CANCELED"}
    assert re.search(r"left\(x=\.\.\.\): artifact \d+ \(Examples\) is missing: .* was deleted"
                     r"\. Fix: re-run its producer", partial.node("left").error)


def test_hello_example_pipeline_runs_then_is_fully_cached(tmp_path):
    path = Path(__file__).resolve().parents[2] / "pipelines" / "hello" / "pipeline.py"
    spec = importlib.util.spec_from_file_location("hello_pipeline_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def build():
        return module.create_pipeline(rows=200, root=str(tmp_path / "root"),
                                      metadata_url=f"sqlite:///{tmp_path / 'metadata.db'}",
                                      tracking_uri="")

    first = LocalDagRunner().run(build())
    assert first.status == "COMPLETE", [r.error for r in first.components]
    assert abs(first.node("FitLine").metrics["slope"] - 3) < 0.1
    second = LocalDagRunner().run(build())
    assert set(_states(second).values()) == {"CACHED"}  # Check has no outputs, and caches too
