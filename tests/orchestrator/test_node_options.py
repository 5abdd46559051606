"""Per-node execution options: retries with backoff, and a per-node cache switch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from orchestrator_fakes import AddOne, Join, Source, make_pipeline, read_value, write_value

from gristmill.components import InputArtifact, OutputArtifact, Parameter, component
from gristmill.components.framework.base import NodeExecutionOptions
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.standard_artifacts import Examples
from gristmill.metadata.store import open_store
from gristmill.metadata.types import ExecutionState
from gristmill.orchestrator.compiler import compile_pipeline
from gristmill.orchestrator.explain import explain
from gristmill.orchestrator.runner import SequentialRunner

pytestmark = pytest.mark.integration


@component
def Flaky(x: InputArtifact[Examples], out: OutputArtifact[Examples], counter: Parameter[str],
          failures: Parameter[int] = 1) -> None:
    """Fail the first ``failures`` calls (counted in the file ``counter``), then add one."""
    calls = int(Path(counter).read_text()) if os.path.exists(counter) else 0
    with open(counter, "w") as f:
        f.write(str(calls + 1))
    if calls < failures:
        raise ConnectionError(f"transient failure {calls + 1}")
    write_value(out, read_value(x) + 1)


def _flaky_pipeline(tmp_path, failures: int, retries: int):
    source = Source(value=4)
    flaky = Flaky(x=source.outputs["out"], counter=str(tmp_path / "calls"),
                  failures=failures).with_node_execution_options(
        max_execution_retries=retries, retry_backoff_sec=0.01)
    return make_pipeline(tmp_path, [source, flaky])


def test_a_transient_failure_is_retried_and_every_attempt_is_recorded(tmp_path):
    result = SequentialRunner().run(_flaky_pipeline(tmp_path, failures=2, retries=2))
    flaky = result.node("Flaky")
    assert result.status == "COMPLETE" and flaky.state is ExecutionState.COMPLETE
    assert flaky.attempts == 3 and read_value(flaky.outputs["out"][0]) == 5
    with open_store(f"sqlite:///{tmp_path / 'metadata.db'}") as store:
        states = [e.state for e in store.list_executions(component_id="Flaky")]
    assert states == [ExecutionState.FAILED, ExecutionState.FAILED, ExecutionState.COMPLETE]
    assert not os.listdir(tmp_path / "root" / ".staging")  # failed attempts left nothing


def test_retries_run_out_and_the_error_says_how_many_attempts(tmp_path):
    result = SequentialRunner().run(_flaky_pipeline(tmp_path, failures=5, retries=1))
    flaky = result.node("Flaky")
    assert result.status == "FAILED" and flaky.attempts == 2
    assert "transient failure 2" in flaky.error and "(failed all 2 attempts)" in flaky.error
    assert flaky.to_dict()["attempts"] == 2


def test_a_node_can_switch_its_cache_off_or_on(tmp_path):
    def build(source_cache=None, right_cache=None):  # options set before wiring (copies)
        source = Source().with_node_execution_options(enable_cache=source_cache)
        left = AddOne(x=source.outputs["out"]).with_id("left")
        right = AddOne(x=source.outputs["out"], inc=2).with_id(
            "right").with_node_execution_options(enable_cache=right_cache)
        return [source, left, right, Join(a=left.outputs["out"], b=right.outputs["out"])]

    SequentialRunner().run(make_pipeline(tmp_path, build()))
    again = SequentialRunner().run(make_pipeline(tmp_path, build(right_cache=False)))
    # right ran again; its output has the same content, so Join's key is unchanged
    assert {r.node_id: r.state.value for r in again.components} == {
        "Source": "CACHED", "left": "CACHED", "right": "COMPLETE", "Join": "CACHED"}
    # the pipeline's cache off, one node's on: only that node is looked up
    pipeline = make_pipeline(tmp_path, build(source_cache=True), enable_cache=False)
    with open_store(pipeline.metadata_url) as store:
        verdicts = {v.node_id: v.verdict for v in explain(compile_pipeline(pipeline), store,
                                                          enable_cache=False)}
    assert verdicts == {"Source": "hit", "left": "miss", "right": "miss", "Join": "miss"}
    third = SequentialRunner().run(pipeline)
    assert {r.node_id: r.state.value for r in third.components} == {
        "Source": "CACHED", "left": "COMPLETE", "right": "COMPLETE", "Join": "COMPLETE"}


def test_bad_options_are_refused_with_the_fix():
    with pytest.raises(ConfigError, match="max_execution_retries must be an int >= 0"):
        NodeExecutionOptions(max_execution_retries=-1)
    with pytest.raises(ConfigError, match="use max_execution_retries, retry_backoff_sec"):
        Source().with_node_execution_options(retries=3)
