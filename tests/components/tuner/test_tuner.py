"""Tuner: grid/random/TPE search, parallel trials, MLflow child runs, Trainer hand-off."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.components.framework.base import Channel
from gristmill.components.framework.executor import ExecutionContext, Reporter
from gristmill.components.framework.trainer_config import TrainerConfig
from gristmill.components.trainer.component import Trainer
from gristmill.components.tuner.component import Tuner
from gristmill.components.tuner.config import TunerParameters
from gristmill.components.tuner.executor import TunerExecutor
from gristmill.components.tuner.space import Dimension, grid_size, normalize_space
from gristmill.metadata.errors import ConfigError, ExecutorError
from gristmill.metadata.standard_artifacts import Examples, HyperParameters, TunerResults

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Examples:
    root = tmp_path_factory.mktemp("examples")
    artifact = Examples(str(root), id=1)
    artifact.splits = ["train", "eval"]
    for split, n, seed in (("train", 300, 0), ("eval", 100, 1)):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=n)
        os.makedirs(artifact.split_uri(split))
        pq.write_table(pa.table({"x": x, "label": np.where(x > 0, "pos", "neg")}),
                       f"{artifact.split_uri(split)}/part-00000.parquet")
    return artifact


class Recorder(Reporter):
    def __init__(self):
        self.metrics = []

    def log_metrics(self, metrics, step=None):
        self.metrics.append((step, dict(metrics)))


def run_tuner(tmp_path, examples, context_kwargs=None, **params):
    hp, results = HyperParameters(str(tmp_path / "hp")), TunerResults(str(tmp_path / "res"))
    os.makedirs(hp.uri)
    os.makedirs(results.uri)
    reporter = Recorder()
    context = ExecutionContext(component_id="Tuner", tmp_dir=str(tmp_path), reporter=reporter,
                               **(context_kwargs or {}))
    TunerExecutor(context).Do({"examples": [examples]},
                              {"best_hyperparameters": [hp], "tuner_results": [results]},
                              TunerParameters(**params))
    best = json.loads((tmp_path / "hp" / "best_hyperparameters.json").read_text())
    trials = json.loads((tmp_path / "res" / "trials.json").read_text())
    return best, trials, reporter, hp


BASE = TrainerConfig(label_key="label", epochs=2, batch_size=32, exports=[])


def test_grid_search_visits_the_whole_grid_and_picks_the_best(tmp_path, examples):
    best, trials, reporter, hp = run_tuner(
        tmp_path, examples, algorithm="grid", num_parallel_trials=2,
        config=BASE.merged({"checkpoint_dir": str(tmp_path / "stable")}),
        search_space={"learning_rate": [1e-5, 3e-2], "hidden_units": [[8], [16, 8]]})
    assert len(trials["trials"]) == 4
    assert {t["state"] for t in trials["trials"]} == {"COMPLETE"}
    points = {(t["params"]["learning_rate"], tuple(t["params"]["hidden_units"]))
              for t in trials["trials"]}
    assert points == {(1e-5, (8,)), (1e-5, (16, 8)), (3e-2, (8,)), (3e-2, (16, 8))}
    best_trial = min(trials["trials"], key=lambda t: t["value"])
    assert best == best_trial["params"] and best["learning_rate"] == 3e-2
    assert hp.get_custom_property("best_value") == best_trial["value"]
    curves = {k for step, m in reporter.metrics if step is not None for k in m}
    assert {f"trial_{i}/val_loss" for i in range(4)} <= curves
    assert not (tmp_path / "stable").exists()  # trials never write the Trainer's checkpoints
    assert (tmp_path / "res" / "trials.csv").read_text().startswith("number,state,value")


def test_tpe_and_random_with_a_trial_fn(tmp_path, examples):
    def trial_fn(fn_args):
        x = fn_args.hyperparameters["x"]
        fn_args.log_metrics({"score": -(x - 3) ** 2}, step=1)
        return {"score": -(x - 3) ** 2}

    for algorithm in ("tpe", "random"):
        best, trials, _, _ = run_tuner(
            tmp_path / algorithm, examples, algorithm=algorithm, num_trials=12,
            trial_fn=trial_fn, objective="score", config=BASE,
            search_space={"x": Dimension(type="float", low=0.0, high=6.0)})
        assert trials["direction"] == "minimize" and len(trials["trials"]) == 12
        assert best["x"] == min(trials["trials"], key=lambda t: t["value"])["params"]["x"]
    best, trials, _, _ = run_tuner(tmp_path / "max", examples, num_trials=12, trial_fn=trial_fn,
                                   objective="score", direction="maximize", config=BASE,
                                   search_space={"x": Dimension(type="float", low=0, high=6)})
    assert abs(best["x"] - 3) < 1.5


def test_random_search_never_repeats_a_point_and_says_when_the_space_is_exhausted(
        tmp_path, examples, caplog):
    # Issue 18 #11: random search repeated identical trials (the same point 3 times in 6).
    def trial_fn(fn_args):
        hp = fn_args.hyperparameters
        return {"score": hp["layers"] + len(hp["hidden_units"]) + hp["learning_rate"]}

    space = {"layers": Dimension(type="int", low=1, high=3),
             "hidden_units": [[8], [16, 8]], "learning_rate": [1e-3, 1e-2]}
    _, trials, _, _ = run_tuner(tmp_path / "some", examples, algorithm="random",
                                num_trials=10, trial_fn=trial_fn, objective="score",
                                config=BASE, search_space=space, num_parallel_trials=2)
    points = [json.dumps(t["params"], sort_keys=True) for t in trials["trials"]]
    assert len(points) == 10 and len(set(points)) == 10, points
    assert trials["distinct_points"] == 12 and trials["space_exhausted"] is False
    with caplog.at_level("WARNING", logger="gristmill.components.tuner.executor"):
        _, trials, reporter, _ = run_tuner(tmp_path / "all", examples, algorithm="random",
                                           num_trials=20, trial_fn=trial_fn, objective="score",
                                           config=BASE, search_space=space)
    points = {json.dumps(t["params"], sort_keys=True) for t in trials["trials"]}
    assert len(trials["trials"]) == 12 and len(points) == 12
    assert trials["space_exhausted"] is True
    assert "only 12 distinct points, fewer than the 20 trials asked for" in trials["note"]
    assert "only 12 distinct points" in caplog.text
    assert [m["space_exhausted"] for step, m in reporter.metrics if step is None] == [1.0]


def test_trial_plans_are_distinct_seeded_and_keep_log_spacing():
    from gristmill.components.tuner.plan import plan_trials

    space = normalize_space({"units": Dimension(type="int", low=1, high=1024, log=True),
                             "lr": Dimension(type="float", low=0.0, high=0.1, step=0.01)})
    plan = plan_trials("random", space, 200, seed=3)
    units = [p["units"] for p in plan.points]
    assert len({tuple(sorted(p.items())) for p in plan.points}) == 200
    assert plan.points == plan_trials("random", space, 200, seed=3).points
    assert plan.distinct_points == 1024 * 11 and not plan.exhausted
    assert 0.3 < np.mean(np.array(units) <= 32) < 0.7  # log-uniform: half below sqrt(1024)
    continuous = normalize_space({"lr": Dimension(type="float", low=0.0, high=0.1)})
    assert plan_trials("random", continuous, None, seed=0).points is None
    grid = plan_trials("grid", normalize_space({"a": [1, 2], "b": [[1], [2, 3]]}), None, 0)
    assert grid.num_trials == 4 and {tuple(p.items()) for p in grid.points} == {
        (("a", a), ("b__index", b)) for a in (1, 2) for b in (0, 1)}


@pytest.mark.slow  # creating the MLflow SQLite schema dominates
def test_mlflow_child_runs_per_trial(tmp_path, examples):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    experiment = client.create_experiment("tuning", artifact_location=str(tmp_path / "art"))
    parent = client.create_run(experiment).info.run_id
    run_tuner(tmp_path / "t", examples, {"tracking_uri": uri, "mlflow_run_id": parent},
              algorithm="random", num_trials=2, config=BASE,
              search_space={"learning_rate": Dimension(type="float", low=1e-3, high=1e-2,
                                                       log=True)})
    children = client.search_runs([experiment],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    assert len(children) == 2
    for child in children:
        assert child.info.status == "FINISHED"
        assert "learning_rate" in child.data.params
        assert len(client.get_metric_history(child.info.run_id, "val_loss")) == 2


def test_failures_and_space_validation(tmp_path, examples):
    with pytest.raises(ExecutorError, match="all 2 trials failed"):
        run_tuner(tmp_path, examples, num_trials=2, config=BASE,
                  search_space={"learning_rat": [0.1, 0.2]})
    with pytest.raises(ConfigError, match="grid search needs a step"):
        run_tuner(tmp_path / "g", examples, algorithm="grid", config=BASE,
                  search_space={"dropout": Dimension(type="float", low=0.0, high=0.5)})
    with pytest.raises(ValueError, match="low <= high"):
        Dimension(type="int", low=5, high=1)
    space = normalize_space({"a": [1, 2, 3], "b": Dimension(type="int", low=1, high=4, step=2),
                             "c": Dimension(type="float", low=0, high=1, step=0.25)})
    assert grid_size(space) == 3 * 2 * 5


def test_component_wiring_into_the_trainer():
    examples = Channel(Examples, None, "examples")
    tuner = Tuner(examples=examples, search_space={"epochs": [1, 2]},
                  config={"label_key": "label"})
    assert set(tuner.outputs) == {"best_hyperparameters", "tuner_results"}
    trainer = Trainer(examples=examples, hyperparameters=tuner.outputs["best_hyperparameters"])
    assert trainer.inputs["hyperparameters"].producer is tuner
    with pytest.raises(ConfigError, match="HyperParameters channel, got TunerResults"):
        Trainer(examples=examples, hyperparameters=tuner.outputs["tuner_results"])
