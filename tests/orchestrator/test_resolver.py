"""Resolver nodes and their strategies, directly and inside pipelines on a real store."""

from __future__ import annotations

import pytest
from orchestrator_fakes import AddOne, Source, make_pipeline, read_value, write_value

from gristmill.components import InputArtifact, OutputArtifact, Parameter, component
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.standard_artifacts import Examples, Model, ModelBlessing
from gristmill.metadata.store import open_store
from gristmill.orchestrator import (
    Channel,
    LatestArtifactStrategy,
    LatestBlessedModelStrategy,
    Resolver,
    SequentialRunner,
    SpanRangeStrategy,
)
from gristmill.orchestrator.compiler import compile_pipeline
from gristmill.orchestrator.explain import explain


@component
def TrainModel(model: OutputArtifact[Model], seed: Parameter[int] = 0) -> None:
    """Write the seed as the "model"."""
    write_value(model, seed)


@component
def Bless(model: InputArtifact[Model], blessing: OutputArtifact[ModelBlessing],
          ok: Parameter[int] = 1) -> None:
    """Bless (or not) the given model, as an Evaluator would."""
    write_value(blessing, ok)
    blessing.set_custom_property("blessed", ok)
    blessing.set_custom_property("current_model_id", model.id)


@component
def UseModel(model: InputArtifact[Model], out: OutputArtifact[Examples]) -> None:
    """Copy the resolved model's value."""
    write_value(out, read_value(model))


def _examples(span: int, version: int = 0, id: int = 0) -> Examples:  # noqa: A002
    return Examples(f"/e/{id}", id=id, properties={"span": span, "version": version})


def _ids(artifacts) -> list[int]:
    return [a.id for a in artifacts]


# -- strategies on their own ---------------------------------------------------------------
@pytest.mark.unit
def test_latest_artifact_strategy_takes_the_newest_of_each_input():
    newest_first = {"examples": [_examples(3, id=9), _examples(2, id=5)], "model": []}
    chosen = LatestArtifactStrategy().resolve(newest_first, store=None)
    assert {k: _ids(v) for k, v in chosen.items()} == {"examples": [9], "model": []}


@pytest.mark.unit
def test_latest_blessed_model_strategy_needs_blessed_1_and_a_matching_model():
    models = [Model("/m3", id=3), Model("/m2", id=2), Model("/m1", id=1)]
    blessings = [
        ModelBlessing("/b3", id=13, custom_properties={"blessed": 0, "current_model_id": 3}),
        ModelBlessing("/b9", id=19, custom_properties={"blessed": 1, "current_model_id": 99}),
        ModelBlessing("/b2", id=12, custom_properties={"blessed": 1, "current_model_id": 2}),
        ModelBlessing("/b1", id=11, custom_properties={"blessed": 1, "current_model_id": 1})]
    chosen = LatestBlessedModelStrategy().resolve(
        {"model": models, "model_blessing": blessings}, store=None)
    assert (_ids(chosen["model"]), _ids(chosen["model_blessing"])) == ([2], [12])
    none = LatestBlessedModelStrategy().resolve(
        {"model": models, "model_blessing": blessings[:2]}, store=None)
    assert none == {"model": [], "model_blessing": []}


@pytest.mark.unit
def test_span_range_strategy_static_range_newest_version_per_span():
    newest_first = [_examples(4, id=6), _examples(3, version=1, id=5), _examples(3, id=4),
                    _examples(2, id=3), _examples(1, id=2), Examples("/nospan", id=1)]
    chosen = SpanRangeStrategy(start_span=2, end_span=3).resolve({"e": newest_first}, None)
    assert _ids(chosen["e"]) == [3, 5]  # ascending span order, version 1 of span 3


@pytest.mark.unit
def test_span_range_strategy_rolling_window():
    newest_first = [_examples(s, id=s) for s in (5, 4, 3, 2, 1)]
    assert _ids(SpanRangeStrategy(num_spans=2).resolve({"e": newest_first}, None)["e"]) == [4, 5]
    window = SpanRangeStrategy(start_span=1, end_span=3, num_spans=2)
    assert _ids(window.resolve({"e": newest_first}, None)["e"]) == [2, 3]


@pytest.mark.unit
def test_resolver_refuses_non_channels():
    with pytest.raises(ConfigError, match=r"Resolver\(model=\.\.\.\): expected a Channel, got "
                                          r"str"):
        Resolver(model="latest")


@pytest.mark.unit
def test_resolver_describes_its_strategy_and_mirrors_channel_types():
    resolver = Resolver(strategy_class=SpanRangeStrategy, config={"num_spans": 3},
                        examples=Channel(type=Examples)).with_id("spans")
    assert resolver.describe_parameters() == {"strategy": "SpanRangeStrategy",
                                              "start_span": None, "end_span": None,
                                              "num_spans": 3}
    assert resolver.outputs["examples"].type is Examples
    assert resolver.outputs["examples"].producer is resolver


# -- inside pipelines ------------------------------------------------------------------------
@pytest.mark.integration
def test_latest_blessed_model_resolver_in_a_pipeline(tmp_path, open_test_store):
    runs = {}
    for seed, ok in ((1, 1), (2, 0)):  # the newest model is not blessed
        model = TrainModel(seed=seed)
        runs[seed] = SequentialRunner().run(make_pipeline(
            tmp_path, [model, Bless(model=model.outputs["model"], ok=ok)], name="models"))
    resolver = Resolver(strategy_class=LatestBlessedModelStrategy, model=Channel(type=Model),
                        model_blessing=Channel(type=ModelBlessing)).with_id("latest_blessed")
    use = UseModel(model=resolver.outputs["model"])
    result = SequentialRunner().run(make_pipeline(tmp_path, [resolver, use], name="models"))
    assert result.status == "COMPLETE"
    blessed_model = runs[1].node("TrainModel").outputs["model"][0]
    assert _ids(result.node("latest_blessed").outputs["model"]) == [blessed_model.id]
    assert read_value(result.node("UseModel").outputs["out"][0]) == 1
    with open_test_store() as store:
        execution = store.get_execution(result.node("latest_blessed").execution_id)
        assert execution.custom_properties["resolved"]["model"] == [blessed_model.id]
        assert execution.parameters == {"strategy": "LatestBlessedModelStrategy"}


@pytest.mark.integration
def test_span_range_resolver_and_explain_in_a_pipeline(tmp_path):
    for span in (1, 2, 3, 4):
        SequentialRunner().run(make_pipeline(tmp_path, [Source(value=span)], name="spans"))

    def build():
        resolver = Resolver(strategy_class=SpanRangeStrategy, config={"num_spans": 2},
                            examples=Channel(type=Examples)).with_id("window")
        return [resolver, AddOne(x=resolver.outputs["examples"])]

    first = SequentialRunner().run(make_pipeline(tmp_path, build(), name="spans"))
    spans = [a.get_property("span") for a in first.node("window").outputs["examples"]]
    assert spans == [3, 4]
    assert read_value(first.node("AddOne").outputs["out"][0]) == 4  # the first of the window
    second = SequentialRunner().run(make_pipeline(tmp_path, build(), name="spans"))
    assert second.node("AddOne").state.value == "CACHED"
    with open_store(f"sqlite:///{tmp_path / 'metadata.db'}") as store:
        verdicts = explain(compile_pipeline(make_pipeline(tmp_path, build(), name="spans")),
                           store)
    assert [(v.node_id, v.verdict) for v in verdicts] == [("window", "resolve"),
                                                          ("AddOne", "hit")]


@pytest.mark.integration
def test_resolver_only_sees_its_own_pipeline(tmp_path):
    SequentialRunner().run(make_pipeline(tmp_path, [Source(value=7)], name="other"))
    resolver = Resolver(examples=Channel(type=Examples)).with_id("latest")
    result = SequentialRunner().run(make_pipeline(tmp_path, [resolver], name="mine"))
    assert result.node("latest").outputs == {"examples": []}



@pytest.mark.integration
def test_explain_resolves_exactly_as_the_run_does_for_a_new_pipeline(tmp_path):
    """Issue 18 defect 6: explain previewed another pipeline's artifact for a pipeline that
    had never run (no pipeline context yet), though the run then resolved nothing."""
    SequentialRunner().run(make_pipeline(tmp_path, [Source(value=7)], name="other"))

    def build():
        resolver = Resolver(examples=Channel(type=Examples)).with_id("latest")
        return [resolver]

    with open_store(f"sqlite:///{tmp_path / 'metadata.db'}") as store:
        (preview,) = explain(compile_pipeline(make_pipeline(tmp_path, build(), name="mine")),
                             store)
    result = SequentialRunner().run(make_pipeline(tmp_path, build(), name="mine"))
    assert result.node("latest").outputs == {"examples": []}
    assert preview.reasons == ["resolves from the store at run time; now it would pick "
                               "artifacts examples: []"]


@pytest.mark.integration
def test_a_blessed_model_edited_on_disk_is_retired_and_the_previous_one_resolved(
        tmp_path, open_test_store, capsys):
    """Issue 14 item 8: the Resolver kept returning the modified model, so every later run
    failed downstream (and --no-cache did not help)."""
    from gristmill.orchestrator.cli_commands import Progress

    models = {}
    for seed in (1, 2):
        model = TrainModel(seed=seed)
        run = SequentialRunner().run(make_pipeline(
            tmp_path, [model, Bless(model=model.outputs["model"])], name="models"))
        models[seed] = run.node("TrainModel").outputs["model"][0]
    write_value(models[2], 99)  # edited on disk after it was blessed

    def build():
        resolver = Resolver(strategy_class=LatestBlessedModelStrategy,
                            model=Channel(type=Model),
                            model_blessing=Channel(type=ModelBlessing)).with_id("baseline")
        return [resolver, UseModel(model=resolver.outputs["model"])]

    with open_test_store() as store:
        (preview, _) = explain(compile_pipeline(make_pipeline(tmp_path, build(), "models")),
                               store)
        assert store.get_artifacts([models[2].id])[0].state.value == "LIVE"  # explain only reads
    assert f"artifact {models[2].id} (Model)" in preview.reasons[0]
    assert "modified after it was published" in preview.reasons[0]
    assert preview.reasons[-1].endswith(f"model: [{models[1].id}], model_blessing: [2]")
    for _ in range(2):  # the next run too: the damaged model stays retired
        result = SequentialRunner(hooks=[Progress()]).run(
            make_pipeline(tmp_path, build(), name="models"), enable_cache=False)
        assert result.status == "COMPLETE"
        assert _ids(result.node("baseline").outputs["model"]) == [models[1].id]
        assert read_value(result.node("UseModel").outputs["out"][0]) == 1
    first_err = capsys.readouterr().err
    assert f"artifact {models[2].id} (Model)" in first_err and "Retired it" in first_err
    with open_test_store() as store:
        assert store.get_artifacts([models[2].id])[0].state.value == "ABANDONED"
