"""``Cond``: nodes that run only when a predicate over upstream artifacts holds."""

from __future__ import annotations

import pytest
from orchestrator_fakes import AddOne, Join, Source, make_pipeline, read_value

from gristmill.metadata.errors import CompileError, ConfigError
from gristmill.metadata.store import open_store
from gristmill.metadata.types import ExecutionState
from gristmill.orchestrator import Cond, Pipeline, logical_and, logical_not, logical_or
from gristmill.orchestrator.compiler import compile_pipeline
from gristmill.orchestrator.explain import explain
from gristmill.orchestrator.runner import SequentialRunner

pytestmark = pytest.mark.integration


def _gated(value: int, threshold: int = 3):
    """source -> (left inside Cond(span > threshold), right) -> join."""
    source = Source(value=value)
    span = source.outputs["out"].future()[0].property("span")
    with Cond(span > threshold):
        left = AddOne(x=source.outputs["out"]).with_id("left")
    right = AddOne(x=source.outputs["out"], inc=2).with_id("right")
    join = Join(a=left.outputs["out"], b=right.outputs["out"])
    return [source, left, right, join]


def _states(result) -> dict[str, str]:
    return {r.node_id: r.display_state for r in result.components}


def test_a_true_condition_runs_the_block(tmp_path):
    result = SequentialRunner().run(make_pipeline(tmp_path, _gated(value=5)))
    assert result.status == "COMPLETE"
    assert _states(result) == {"Source": "COMPLETE", "left": "COMPLETE", "right": "COMPLETE",
                               "Join": "COMPLETE"}
    assert read_value(result.node("Join").outputs["out"][0]) == 6 + 7


def test_a_false_condition_skips_the_block_and_its_consumers_without_failing(tmp_path):
    result = SequentialRunner().run(make_pipeline(tmp_path, _gated(value=1)))
    assert result.status == "COMPLETE"
    assert _states(result) == {"Source": "COMPLETE", "left": "SKIPPED", "right": "COMPLETE",
                               "Join": "SKIPPED"}
    assert result.node("left").to_dict()["state"] == "SKIPPED"
    with open_store(f"sqlite:///{tmp_path / 'metadata.db'}") as store:
        (left,) = store.list_executions(component_id="left")
        (join,) = store.list_executions(component_id="Join")
    assert left.state is ExecutionState.CANCELED
    assert "Cond(Source.out[0].property('span') > 3) is false" in left.error
    assert "upstream left was skipped" in join.error


def test_nested_blocks_and_logical_operators(tmp_path):
    source = Source(value=4)
    span = source.outputs["out"].future()[0].property("span")
    with Cond(logical_or(span == 1, span >= 4)):
        outer = AddOne(x=source.outputs["out"]).with_id("outer")
        with Cond(logical_and(span < 10, logical_not(span == 4))):
            inner = AddOne(x=source.outputs["out"]).with_id("inner")
        with Cond(~(span != 4) & (span > 0)):
            also = AddOne(x=source.outputs["out"]).with_id("also")
    assert inner.conditions[0] is outer.conditions[0] and len(inner.conditions) == 2
    result = SequentialRunner().run(make_pipeline(tmp_path, [source, outer, inner, also]))
    assert _states(result) == {"Source": "COMPLETE", "outer": "COMPLETE", "inner": "SKIPPED",
                               "also": "COMPLETE"}


def test_the_predicate_producer_becomes_a_dependency_and_must_be_in_the_pipeline(tmp_path):
    gate, data = Source(value=9).with_id("gate"), Source(value=1).with_id("data")
    with Cond(gate.outputs["out"].future()[0].property("span") > 3):
        node = AddOne(x=data.outputs["out"])
    compiled = compile_pipeline(make_pipeline(tmp_path, [gate, data, node]))
    assert compiled.nodes["AddOne"].upstream == {"gate", "data"}
    with pytest.raises(CompileError, match=r"AddOne\(Cond=...\): expected its producer gate"):
        compile_pipeline(make_pipeline(tmp_path, [data, node]))


def test_predicates_refuse_python_truthiness_and_non_predicates():
    span = Source().outputs["out"].future()[0].property("span")
    with pytest.raises(ConfigError, match="use logical_and/logical_or/logical_not"):
        bool(span > 3)  # what `if span > 3:` or `a and b` would do
    with pytest.raises(ConfigError, match="expected predicates"):
        logical_and(span > 3, True)
    with pytest.raises(ConfigError, match="expected predicates"), Cond("blessed"):
        pytest.fail("a Cond over a string must be refused on entering the block")


def test_an_unreadable_predicate_cancels_the_node_with_the_reason(tmp_path):
    source = Source(value=5)
    with Cond(source.outputs["out"].future()[3].property("span") > 3):
        node = AddOne(x=source.outputs["out"])
    result = SequentialRunner().run(make_pipeline(tmp_path, [source, node]))
    assert result.status == "FAILED" and result.node("AddOne").state is ExecutionState.CANCELED
    assert "needs artifact [3] of Source.out, which produced 1" in result.node("AddOne").error


def test_explain_names_the_condition(tmp_path):
    pipeline = make_pipeline(tmp_path, _gated(value=5))
    with open_store(pipeline.metadata_url) as store:
        verdicts = {v.node_id: v for v in explain(compile_pipeline(pipeline), store)}
    assert any("inside Cond(Source.out[0].property('span') > 3)" in r
               for r in verdicts["left"].reasons)
    assert isinstance(pipeline, Pipeline)


def test_the_cli_summary_lists_skipped_nodes_with_the_reason(tmp_path, capsys):
    from gristmill.orchestrator.cli_commands import _print_summary

    pipeline = make_pipeline(tmp_path, _gated(value=1))
    _print_summary(SequentialRunner().run(pipeline), pipeline)
    err = capsys.readouterr().err
    assert "COMPLETE" in err and "2 skipped" in err
    assert "skipped:   left: Cond(Source.out[0].property('span') > 3) is false" in err
    assert "skipped:   Join: upstream left was skipped" in err
