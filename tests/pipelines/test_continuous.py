"""Continuous training over 4 daily spans: who retrained, who pushed, what drifted, what skewed.

Span 1: no model yet -> train, push. Span 2: same regime, not scheduled -> no training.
Span 3: card readers arrive (drift) -> warm-started retrain, clearly better -> push.
Span 4: scheduled retrain, not better by the required margin -> not pushed; the serving
requests logged since span 3's push (a client sending minutes as seconds) are flagged as
skew against training data.
"""

from __future__ import annotations

import json
import os
import sys

import pyarrow.compute as pc
import pytest
from pipeline_runs import REPO

CONTINUOUS = REPO / "pipelines" / "continuous"
sys.path.insert(0, str(CONTINUOUS))
import pipeline as continuous  # noqa: E402 - lives next to its data stream, not in a package
import stream  # noqa: E402

from gristmill.engine.request_log import RequestLogger  # noqa: E402
from gristmill.engine.serving import load_bundle  # noqa: E402


def _anomalies(result, node: str, split: str) -> tuple[int, set[str]]:
    artifact = result.node(node).outputs["anomalies"][0]
    with open(os.path.join(artifact.split_uri(split), "anomalies.json")) as f:
        found = json.load(f)
    features = {a["feature"] for a in found["anomalies"] if a["severity"] == "ERROR"}
    return artifact.get_custom_property("blessed")[split], features


def _log_minute_requests(model_dir: str, log_root: str) -> int:
    """Serve the pushed model with request logging on; the client sends trip durations in
    minutes where the model was trained on seconds."""
    day = stream.make_day(4, 2000, drifted=True, seed=7).drop([stream.LABEL_KEY])
    minutes = pc.cast(pc.round(pc.divide(pc.cast(day["trip_seconds"], "float64"), 60.0)),
                      "int64")
    day = day.set_column(day.schema.get_field_index("trip_seconds"), "trip_seconds", minutes)
    logger = RequestLogger(log_root, sample_rate=0.5, span=4, seed=0)
    bundle = load_bundle(model_dir, request_log=logger)
    for start in range(0, day.num_rows, 100):
        bundle.predict(day.slice(start, 100))
    bundle.predict_records(day.slice(0, 10).to_pylist())
    logger.close()
    return logger.counts["rows_logged"]


@pytest.mark.integration
def test_four_spans_retrain_on_drift_and_schedule_and_push_only_better(tmp_path, monkeypatch):
    monkeypatch.setenv("GRISTMILL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GRISTMILL_MLFLOW_MIRROR", "off")
    from gristmill.orchestrator import LocalDagRunner

    data, serving, logs = (str(tmp_path / n) for n in ("days", "serving", "requests"))
    results = []
    for span in (1, 2, 3, 4):
        stream.write_span(data, span)
        if span == 4:
            assert _log_minute_requests(os.path.join(serving, "2"), logs) > 900
        pipeline = continuous.create_pipeline(data, serving_log_root=logs if span == 4 else None,
                                              serving_model_dir=serving,
                                              root=str(tmp_path / "root"))
        result = LocalDagRunner().run(pipeline)
        assert result.status == "COMPLETE", [(c.node_id, c.error) for c in result.components
                                             if c.error and not c.skipped]
        results.append(result)

    decisions = [r.node("RetrainDecision").outputs["decision"][0] for r in results]
    assert [d.get_custom_property("span") for d in decisions] == [1, 2, 3, 4]
    assert [d.get_custom_property("retrain") for d in decisions] == [1, 0, 1, 1]
    assert [d.get_custom_property("reason") for d in decisions] == [
        "no blessed model yet",
        "span 2: no drift, not scheduled (every 4 spans), blessed model "
        f"{results[0].node('Trainer').outputs['model'][0].id} kept",
        "span 3 drifted from the previous span",
        "scheduled: span 4 is a multiple of 4"]
    trained = [not r.node("Trainer").skipped for r in results]
    assert trained == [True, False, True, True]
    assert results[1].node("Pusher").skipped

    # The drifted span (and only it) is flagged, on the feature that changed most.
    flags = [_anomalies(r, "DriftValidator", "train") for r in results]
    assert [blessed for blessed, _ in flags] == [1, 1, 0, 1]
    assert "payment_type" in flags[2][1]
    assert results[0].node("DriftValidator").outputs["anomalies"][0].get_custom_property(
        "no_baseline") == 1

    # Warm start and baseline: each retrain starts from, and must beat, the latest blessed.
    first_model = results[0].node("Trainer").outputs["model"][0]
    third_model = results[2].node("Trainer").outputs["model"][0]
    assert results[2].node("Trainer").inputs["base_model"][0].id == first_model.id
    assert results[3].node("Trainer").inputs["base_model"][0].id == third_model.id
    assert results[3].node("Evaluator").inputs["baseline_model"][0].id == third_model.id

    pushed = [r.node("Pusher").outputs["pushed_model"][0] for r in (results[0], *results[2:])]
    assert [p.get_custom_property("pushed") for p in pushed] == [1, 1, 0]
    assert "violates" in pushed[2].get_custom_property("reason")
    evaluation = results[3].node("Evaluator").outputs["evaluation"][0]
    with open(os.path.join(evaluation.uri, "metrics.json")) as f:
        overall = json.load(f)["slices"][0]
    gain = overall["candidate"]["metrics"]["auc"] - overall["baseline"]["metrics"]["auc"]
    assert gain < 0.02, gain  # the Pusher's refusal matches the figures
    assert sorted(os.listdir(serving)) == ["1", "2"]
    assert os.path.isfile(os.path.join(serving, "2", "model_card.html"))

    # Training/serving skew: the logged requests' trip_seconds are minutes; nothing else.
    blessed, skewed = _anomalies(results[3], "SkewValidator", "serving")
    assert blessed == 0
    assert skewed == {"trip_seconds"}
    logged = results[3].node("ServingLogGen").outputs["examples"][0]
    assert logged.get_property("span") == 4
