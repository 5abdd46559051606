"""Compiling pipelines: ordering, and errors that name the problem and the fix."""

from __future__ import annotations

import pytest
from orchestrator_fakes import (
    AddOne,
    Blesser,
    Counter,
    Source,
    Trainer,
    diamond,
    fan_out_fan_in,
    linear,
    make_pipeline,
)

from gristmill.components import OutputArtifact, component
from gristmill.metadata.errors import CompileError, ConfigError
from gristmill.metadata.standard_artifacts import Examples, Model
from gristmill.orchestrator import Pipeline
from gristmill.orchestrator.compiler import compile_pipeline

pytestmark = pytest.mark.unit


@component
def ExamplesAndModel(examples: OutputArtifact[Examples], model: OutputArtifact[Model]) -> None:
    """Two outputs of different types, for the "Did you mean" hint."""


def _position(order: list[str]) -> dict[str, int]:
    return {node: i for i, node in enumerate(order)}


@pytest.mark.parametrize("graph", [linear, diamond, fan_out_fan_in])
def test_order_puts_every_producer_before_its_consumers(tmp_path, graph):
    compiled = compile_pipeline(make_pipeline(tmp_path, graph()))
    where = _position(compiled.order)
    assert sorted(compiled.order) == sorted(compiled.nodes)
    for node in compiled.nodes.values():
        for up in node.upstream:
            assert where[up] < where[node.id]


def test_diamond_edges_ancestors_and_descendants(tmp_path):
    compiled = compile_pipeline(make_pipeline(tmp_path, diamond()))
    assert compiled.nodes["Join"].upstream == {"left", "right"}
    assert compiled.nodes["Source"].downstream == {"left", "right"}
    assert compiled.descendants("left") == {"Join"}
    assert compiled.descendants("Source") == {"left", "right", "Join"}
    assert compiled.ancestors("Join") == {"Source", "left", "right"}
    assert compiled.ancestors("Source") == set()


def test_cycle_is_named(tmp_path):
    source = Source()
    first = AddOne(x=source.outputs["out"]).with_id("first")
    second = AddOne(x=first.outputs["out"]).with_id("second")
    first.inputs["x"] = second.outputs["out"]  # rewire into a loop
    with pytest.raises(CompileError, match=r"form a cycle: (first -> second -> first|"
                                           r"second -> first -> second)"):
        compile_pipeline(make_pipeline(tmp_path, [source, first, second]))


def test_consuming_own_output_is_refused(tmp_path):
    source = Source()
    step = AddOne(x=source.outputs["out"]).with_id("step")
    step.inputs["x"] = step.outputs["out"]
    with pytest.raises(CompileError, match=r"step\(x=\.\.\.\): a component cannot consume its own"):
        compile_pipeline(make_pipeline(tmp_path, [source, step]))


def test_missing_producer_is_named_with_the_fix(tmp_path):
    source = Source()
    step = AddOne(x=source.outputs["out"]).with_id("step")
    with pytest.raises(CompileError, match=r"step\(x=\.\.\.\): expected its producer Source in "
                                           r"pipeline 'fake', but it is not listed.*add Source"):
        compile_pipeline(make_pipeline(tmp_path, [step]))


def test_wiring_to_the_original_after_with_id_is_explained(tmp_path):
    source = Source()
    renamed = source.with_id("Source")  # a copy under the same id
    step = AddOne(x=source.outputs["out"]).with_id("step")
    with pytest.raises(CompileError, match=r"expected its producer Source in pipeline 'fake', "
                                           r"but the component listed under that id is a "
                                           r"different object\..*with_id\(\) returns a copy"):
        compile_pipeline(make_pipeline(tmp_path, [renamed, step]))


def test_duplicate_ids_are_refused_with_a_suggestion(tmp_path):
    with pytest.raises(CompileError, match=r"two components have the id 'Counter'.*"
                                           r"with_id\('Counter_2'\)"):
        compile_pipeline(make_pipeline(tmp_path, [Counter(), Counter()]))


def test_empty_pipeline_is_refused(tmp_path):
    with pytest.raises(CompileError, match="has no components"):
        compile_pipeline(make_pipeline(tmp_path, []))


def test_channel_type_mismatch_names_expected_got_and_a_fix():
    producer = ExamplesAndModel()
    expected = (r'Trainer\(examples=\.\.\.\): expected an Examples channel, got Model from '
                r'ExamplesAndModel\.outputs\["model"\]\. Did you mean '
                r'ExamplesAndModel\.outputs\["examples"\]\?')
    with pytest.raises(ConfigError, match=expected):
        Trainer(examples=producer.outputs["model"])


def test_channel_type_mismatch_without_a_better_output_has_no_hint():
    trainer = Trainer(examples=Counter().outputs["examples"])
    with pytest.raises(ConfigError, match=r"Blesser\(model=\.\.\.\): expected a Model channel, "
                                          r'got ModelBlessing from Blesser\.outputs\["blessing"\]'
                                          r"\.(?! Did you mean)"):
        Blesser(model=Blesser(model=trainer.outputs["model"]).outputs["blessing"])


def test_non_channel_input_is_refused():
    with pytest.raises(ConfigError, match=r"Trainer\(examples=\.\.\.\): expected an Examples "
                                          r"channel, got str"):
        Trainer(examples="data/train.csv")


def test_missing_required_input_is_named():
    with pytest.raises(ConfigError, match=r"Trainer: input 'examples' is required \(expected an "
                                          r"Examples channel\), got nothing"):
        Trainer()


def test_unknown_parameter_suggests_the_closest_name():
    with pytest.raises(ConfigError, match=r"Counter: unknown parameter 'nn'\. Did you mean 'n'\?"):
        Counter(nn=3)


def test_unknown_parameter_of_a_function_component_suggests_the_closest_name():
    with pytest.raises(ConfigError, match=r"AddOne: unknown parameter 'incr'\. Did you mean "
                                          r"'inc'\?"):
        AddOne(x=Source().outputs["out"], incr=2)


def test_invalid_parameter_value_shows_what_was_given():
    with pytest.raises(ConfigError, match=r"Counter: invalid parameters: n: .*\(got 'many'\)"):
        Counter(n="many")


def test_parameters_are_frozen():
    counter = Counter(n=2)
    with pytest.raises(Exception, match="frozen"):
        counter.parameters.n = 5


def test_with_id_returns_a_copy_with_its_own_outputs():
    original = Counter()
    renamed = original.with_id("other")
    assert (original.id, renamed.id) == ("Counter", "other")
    assert renamed.outputs["examples"].producer is renamed
    assert original.outputs["examples"].producer is original


@pytest.mark.parametrize("name", ["", "has space", "x" * 129, "../escape"])
def test_invalid_pipeline_names_are_refused(name):
    with pytest.raises(ConfigError, match="Pipeline: invalid name"):
        Pipeline(name, [Counter()])


def test_non_components_are_refused():
    with pytest.raises(ConfigError, match=r"components must be Gristmill components, got str"):
        Pipeline("p", ["Counter"])


def test_tfx_keywords_and_with_options():
    pipeline = Pipeline(pipeline_name="p", pipeline_root="/tmp/r", components=[Counter()])
    assert (pipeline.pipeline_name, pipeline.root) == ("p", "/tmp/r")
    copy = pipeline.with_options(enable_cache=False)
    assert copy.enable_cache is False and pipeline.enable_cache is True
    assert copy.components == pipeline.components
