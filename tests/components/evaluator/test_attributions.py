"""Permutation importance in the Evaluator: an ignored feature ~0 with an interval covering 0,
an informative one clearly > 0, the cost bounded and on the record."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pytest
from bundles import penguin_like_table, train_bundle, write_examples

from gristmill.components.evaluator.attributions import bootstrap_mean, permutation_importance
from gristmill.components.evaluator.config import (
    AttributionsSpec,
    EvalConfig,
    EvaluatorParameters,
    ModelSpec,
    SlicingSpec,
)
from gristmill.components.evaluator.executor import EvaluatorExecutor, split_files
from gristmill.components.framework.executor import ExecutionContext
from gristmill.metadata.standard_artifacts import ModelBlessing, ModelEvaluation

pytestmark = pytest.mark.integration


def with_constant(table: pa.Table) -> pa.Table:
    """Add ``station``: one value on every row, so the model cannot use it (shuffling it
    changes nothing)."""
    return table.append_column("station", pa.array(["north"] * table.num_rows))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("attr")
    eval_table = with_constant(penguin_like_table(900, seed=1))
    examples = write_examples(str(root / "examples"), {"eval": eval_table}, files_per_split=3)
    model = train_bundle(str(root / "model"), with_constant(penguin_like_table(600, seed=0)),
                         model_id=31)
    return {"root": root, "examples": examples, "model": model, "table": eval_table}


@pytest.mark.unit
def test_bootstrap_mean_brackets_the_mean_and_matches_numpy():
    values = np.random.default_rng(0).normal(0.3, 1.0, 500)
    got = bootstrap_mean(values, 400, np.random.default_rng(1))
    assert got["importance"] == pytest.approx(values.mean())
    assert got["lower"] < values.mean() < got["upper"]
    assert got["std_error"] == pytest.approx(values.std(ddof=1) / np.sqrt(500), rel=0.2)


def test_ignored_feature_is_zero_informative_features_clearly_positive(world):
    from gristmill.engine.serving import load_bundle

    files = split_files(world["examples"], ["eval"])
    spec = AttributionsSpec(max_rows=400, num_repeats=4, seed=3)
    got = permutation_importance(files, world["model"].uri, "species", "classification",
                                 ["Adelie", "Chinstrap", "Gentoo"], spec)
    assert got["rows_used"] == 400 and got["rows_available"] == 900
    assert got["predictions"] == 1 + 4 * 4 and got["seconds"] > 0
    features = got["features"]
    assert set(features) == {"bill_length_mm", "flipper_length_mm", "island", "station"}
    station = features["station"]
    assert station["importance"] == 0.0 and station["lower"] <= 0.0 <= station["upper"]
    for name in ("bill_length_mm", "flipper_length_mm"):
        assert features[name]["lower"] > 0.1, features[name]
    # Independent check: accuracy drop when shuffling bill_length_mm over all eval rows.
    bundle, table = load_bundle(world["model"].uri), world["table"]
    truth = np.array(table["species"].to_pylist())
    base = np.mean(np.array(bundle.predict(table)["prediction"].to_pylist()) == truth)
    rng = np.random.default_rng(7)
    drops = []
    for _ in range(10):
        shuffled = table["bill_length_mm"].take(pa.array(rng.permutation(table.num_rows)))
        pred = bundle.predict(table.set_column(0, "bill_length_mm", shuffled))["prediction"]
        drops.append(base - np.mean(np.array(pred.to_pylist()) == truth))
    assert features["bill_length_mm"]["importance"] == pytest.approx(np.mean(drops), abs=0.06)
    # Same seed, same answer.
    again = permutation_importance(files, world["model"].uri, "species", "classification",
                                   ["Adelie", "Chinstrap", "Gentoo"], spec)
    assert again["features"] == features


def test_evaluator_writes_attributions_to_metrics_report_and_mlflow(world):
    out = world["root"] / "run"
    evaluation, blessing = (ModelEvaluation(str(out / "evaluation")),
                            ModelBlessing(str(out / "blessing")))
    for artifact in (evaluation, blessing):
        os.makedirs(artifact.uri)
    (out / "tmp").mkdir()
    logged = {}

    class Reporter:
        def log_metrics(self, metrics, step=None):
            logged.update(metrics)

        def __getattr__(self, name):
            return lambda *a, **k: None

    config = EvalConfig(model_specs=[ModelSpec(label_key="species")],
                        attributions=AttributionsSpec(max_rows=300, num_repeats=2))
    EvaluatorExecutor(ExecutionContext(component_id="Evaluator", tmp_dir=str(out / "tmp"),
                                       reporter=Reporter())).Do(
        {"examples": [world["examples"]], "model": [world["model"]]},
        {"evaluation": [evaluation], "blessing": [blessing]},
        EvaluatorParameters(eval_config=config))
    with open(os.path.join(evaluation.uri, "metrics.json")) as f:
        attributions = json.load(f)["attributions"]
    assert attributions["rows_used"] == 300 and attributions["num_repeats"] == 2
    assert list(attributions["features"])[-1] == "station"  # highest first, the ignored last
    for name, value in attributions["features"].items():
        assert logged[f"attribution_{name}"] == pytest.approx(value["importance"])
    assert logged["attribution_rows_used"] == 300.0
    with open(os.path.join(evaluation.uri, "report.html"), encoding="utf-8") as f:
        report = f.read()
    assert "Feature attributions (permutation importance)" in report
    assert "300 of 900 rows" in report


def test_per_slice_importance_reuses_the_rows_and_averages_back_to_overall(world):
    files = split_files(world["examples"], ["eval"])
    spec = AttributionsSpec(max_rows=400, num_repeats=2, seed=5)
    got = permutation_importance(files, world["model"].uri, "species", "classification",
                                 ["Adelie", "Chinstrap", "Gentoo"], spec,
                                 [SlicingSpec(), SlicingSpec(feature_keys=["island"])])
    slices = got["slices"]
    assert set(slices) == {"island=Biscoe", "island=Dream", "island=Torgersen"}
    assert sum(s["rows"] for s in slices.values()) == 400
    assert got["predictions"] == 1 + 4 * 2  # slices cost no extra prediction
    # Each importance is a mean of per-row increases: the row-weighted slice means give back
    # the overall mean.
    for feature, overall in got["features"].items():
        weighted = sum(s["rows"] * s["features"][feature]["importance"]
                       for s in slices.values()) / 400
        assert weighted == pytest.approx(overall["importance"])
    assert slices["island=Dream"]["features"]["station"]["importance"] == 0.0
