"""Pusher: gating on blessings, atomic versioned copies, MLflow registry with a champion alias."""

from __future__ import annotations

import json
import os

import pytest
from bundles import penguin_like_table, train_bundle, write_examples

from gristmill.components.evaluator.config import (
    HIGHER_IS_BETTER,
    EvalConfig,
    EvaluatorParameters,
    GenericChangeThreshold,
    GenericValueThreshold,
    MetricConfig,
    MetricsSpec,
    MetricThreshold,
)
from gristmill.components.evaluator.executor import EvaluatorExecutor
from gristmill.components.framework.base import Channel
from gristmill.components.framework.executor import ExecutionContext
from gristmill.components.pusher.component import Pusher
from gristmill.components.pusher.config import (
    Filesystem,
    PushDestination,
    PusherParameters,
    Versioning,
)
from gristmill.components.pusher.executor import PusherExecutor
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.standard_artifacts import (
    InfraBlessing,
    Model,
    ModelBlessing,
    ModelEvaluation,
    PushedModel,
)


def _model(tmp_path, name, model_id):
    uri = tmp_path / name
    (uri / "mlflow_model").mkdir(parents=True)
    (uri / "bundle.json").write_text(json.dumps({"name": name}))
    (uri / "mlflow_model" / "MLmodel").write_text(f"artifact_path: {name}\n")
    return Model(str(uri), id=model_id)


def _blessing(tmp_path, name, blessed, model_id, cls=ModelBlessing):
    uri = tmp_path / name
    uri.mkdir()
    (uri / ("BLESSED" if blessed else "NOT_BLESSED")).touch()
    return cls(str(uri), custom_properties={"blessed": int(blessed), "current_model_id": model_id,
                                            "blessing_message": "accuracy too low"})


def _push(tmp_path, name, model, params, tracking_uri=None, **blessings):
    out = PushedModel(str(tmp_path / name))
    os.makedirs(out.uri)
    context = ExecutionContext(component_id="Pusher", pipeline_name="penguins", run_id="run-1",
                               execution_id=7, tracking_uri=tracking_uri,
                               experiment_name="penguins")
    inputs = {"model": [model], **{k: [v] for k, v in blessings.items()}}
    PusherExecutor(context).Do(inputs, {"pushed_model": [out]}, params)
    return out


def _params(base, **kw):
    return PusherParameters(push_destination=PushDestination(
        filesystem=Filesystem(base_directory=str(base), **kw)), registered_model_name="penguins")


@pytest.mark.unit
def test_unblessed_model_is_not_pushed_and_says_why(tmp_path):
    model = _model(tmp_path, "m", 1)
    out = _push(tmp_path, "out", model, _params(tmp_path / "serving"),
                model_blessing=_blessing(tmp_path, "b", False, 1))
    assert out.get_custom_property("pushed") == 0
    assert "NOT blessed: accuracy too low" in out.get_custom_property("reason")
    assert not (tmp_path / "serving").exists() or not os.listdir(tmp_path / "serving")
    assert json.loads((tmp_path / "out" / "push_result.json").read_text())["pushed"] == 0


@pytest.mark.unit
def test_infra_blessing_and_model_mismatch_block_the_push(tmp_path):
    model = _model(tmp_path, "m", 1)
    out = _push(tmp_path, "o1", model, _params(tmp_path / "s"),
                model_blessing=_blessing(tmp_path, "b", True, 1),
                infra_blessing=_blessing(tmp_path, "i", False, 1, InfraBlessing))
    assert out.get_custom_property("pushed") == 0
    assert out.get_custom_property("reason").startswith("infra_blessing says NOT blessed")
    out = _push(tmp_path, "o2", model, _params(tmp_path / "s"),
                model_blessing=_blessing(tmp_path, "b2", True, 99))
    assert "blessed model 99, not this model 1" in out.get_custom_property("reason")


@pytest.mark.unit
def test_blessed_pushes_are_versioned_atomic_copies_without_registry(tmp_path):
    model = _model(tmp_path, "m", 1)
    base = tmp_path / "serving"
    first = _push(tmp_path, "o1", model, _params(base),
                  model_blessing=_blessing(tmp_path, "b", True, 1))
    second = _push(tmp_path, "o2", model, _params(base))
    assert first.get_custom_property("pushed") == 1
    assert first.get_custom_property("pushed_version") == "1"
    assert second.get_custom_property("pushed_version") == "2"
    assert sorted(os.listdir(base)) == ["1", "2"]  # no leftover .tmp-<pid> directory
    assert (base / "2" / "bundle.json").read_text() == (tmp_path / "m" / "bundle.json").read_text()
    assert "no tracking_uri" in first.get_custom_property("registry_skipped")
    stamped = _push(tmp_path, "o3", model, _params(tmp_path / "ts",
                                                   versioning=Versioning.UNIX_TIMESTAMP))
    assert int(stamped.get_custom_property("pushed_version")) > 1_600_000_000


@pytest.mark.integration
def test_worse_second_model_is_not_blessed_not_pushed_and_champion_stays(tmp_path):
    from mlflow import MlflowClient

    train, eval_table = penguin_like_table(300, seed=0), penguin_like_table(150, seed=1)
    examples = write_examples(str(tmp_path / "examples"), {"eval": eval_table})
    first = train_bundle(str(tmp_path / "first"), train, good=True, model_id=21)
    second = train_bundle(str(tmp_path / "second"), train, good=False, model_id=22)
    config = EvalConfig(metrics_specs=[MetricsSpec(metrics=[MetricConfig(
        class_name="Accuracy", threshold=MetricThreshold(
            value_threshold=GenericValueThreshold(lower_bound=0.5),
            change_threshold=GenericChangeThreshold(direction=HIGHER_IS_BETTER,
                                                    absolute=-1e-10)))])])
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    params = _params(tmp_path / "serving")
    results = []
    for name, model, baseline in (("run1", first, None), ("run2", second, first)):
        blessing = _evaluate(tmp_path / name, examples, model, baseline, config)
        results.append(_push(tmp_path / name, "pushed", model, params, tracking_uri,
                             model_blessing=blessing))
    assert results[0].get_custom_property("pushed") == 1
    assert results[0].get_custom_property("registered_model_version") == "1"
    assert results[1].get_custom_property("pushed") == 0
    assert "accuracy on slice Overall" in results[1].get_custom_property("reason")
    assert os.listdir(tmp_path / "serving") == ["1"]
    client = MlflowClient(tracking_uri=tracking_uri)
    champion = client.get_model_version_by_alias("penguins", "champion")
    assert str(champion.version) == "1"
    assert champion.tags["gristmill.model_artifact_id"] == "21"
    assert champion.tags["gristmill.run_id"] == "run-1"
    assert champion.tags["gristmill.execution_id"] == "7"
    assert len(client.search_model_versions("name='penguins'")) == 1
    # Registered straight from the pushed copy: no run, so no stray run in any experiment.
    assert champion.source == str(tmp_path / "serving" / "1")
    assert not champion.run_id
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert client.search_runs(experiments) == []
    assert client.get_experiment_by_name("penguins") is None
    # A later blessed push into the component's own MLflow run moves the alias.
    run = client.create_run(client.create_experiment(
        "penguins", artifact_location=str(tmp_path / "mlartifacts")))
    again = PushedModel(str(tmp_path / "again"))
    os.makedirs(again.uri)
    context = ExecutionContext(component_id="Pusher", pipeline_name="penguins", run_id="run-2",
                               tracking_uri=tracking_uri, mlflow_run_id=run.info.run_id)
    PusherExecutor(context).Do({"model": [first]}, {"pushed_model": [again]}, params)
    assert again.get_custom_property("registered_model_version") == "2"
    assert str(client.get_model_version_by_alias("penguins", "champion").version) == "2"
    logged = [a.path for a in client.list_artifacts(run.info.run_id, "pushed_model")]
    assert "pushed_model/bundle.json" in logged


def _evaluate(root, examples, model, baseline, config):
    evaluation, blessing = ModelEvaluation(str(root / "ev")), ModelBlessing(str(root / "bl"))
    for a in (evaluation, blessing):
        os.makedirs(a.uri)
    inputs = {"examples": [examples], "model": [model]}
    if baseline is not None:
        inputs["baseline_model"] = [baseline]
    EvaluatorExecutor(ExecutionContext(component_id="Evaluator", tmp_dir=str(root))).Do(
        inputs, {"evaluation": [evaluation], "blessing": [blessing]},
        EvaluatorParameters(eval_config=config))
    return blessing


@pytest.mark.unit
def test_component_checks_channel_types(tmp_path):
    pusher = Pusher(model=Channel(Model), model_blessing=Channel(ModelBlessing),
                    push_destination=PushDestination(filesystem=Filesystem(
                        base_directory=str(tmp_path))))
    assert pusher.outputs["pushed_model"].type is PushedModel
    with pytest.raises(ConfigError, match="expected a ModelBlessing channel, got InfraBlessing"):
        Pusher(model=Channel(Model), model_blessing=Channel(InfraBlessing),
               push_destination=PushDestination(filesystem=Filesystem(base_directory="x")))
