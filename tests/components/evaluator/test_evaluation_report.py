"""The Evaluator's HTML report and the curve points behind it: ROC/PR points equal
scikit-learn's, calibration bins equal a hand count, readable numbers and thresholds, the
slice views drawn in a browser, no network reference."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from sklearn import metrics as skm

from gristmill.components.evaluator import metrics as em
from gristmill.components.evaluator.config import Options
from gristmill.components.evaluator.report import (
    render_evaluation_report,
    threshold_text,
)
from gristmill.components.evaluator.slice_gaps import slice_gap_report
from gristmill.components.evaluator.slicing import json_ready, score_slice

pytestmark = pytest.mark.unit


def _binary(n: int, seed: int, digits: int = 2):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    p1 = np.clip(np.round(0.35 * labels + rng.random(n) * 0.65, digits), 0, 1)
    probs = np.stack([1 - p1, p1], axis=1)
    return labels, (p1 >= 0.5).astype(int), probs


def test_roc_points_equal_sklearn_roc_curve():
    labels, _, probs = _binary(80, seed=1)
    curve = em.curve_points(labels == 1, probs[:, 1])
    fpr, tpr, thresholds = skm.roc_curve(labels, probs[:, 1], drop_intermediate=False)
    assert len(curve["fpr"]) == len(fpr) <= em.MAX_CURVE_POINTS
    assert curve["fpr"] == pytest.approx(fpr, rel=1e-5)
    assert curve["tpr"] == pytest.approx(tpr, rel=1e-5)
    assert curve["thresholds"][0] is None  # sklearn's +inf: no row above it
    assert curve["thresholds"][1:] == pytest.approx(thresholds[1:], rel=1e-5)
    assert (curve["positives"], curve["negatives"]) == (int(labels.sum()),
                                                        int((labels == 0).sum()))


def test_precision_recall_points_equal_sklearn_at_every_threshold():
    labels, _, probs = _binary(80, seed=2)
    curve = em.curve_points(labels == 1, probs[:, 1])
    precision, recall, thresholds = skm.precision_recall_curve(labels, probs[:, 1])
    ours = {t: (p, r) for t, p, r in zip(curve["thresholds"][1:], curve["precision"][1:],
                                         curve["recall"][1:], strict=True)}
    for t, p, r in zip(thresholds, precision[:-1], recall[:-1], strict=True):
        key = min(ours, key=lambda x: abs(x - t))
        assert key == pytest.approx(t, rel=1e-5)
        assert ours[key] == pytest.approx((p, r), rel=1e-5)


def test_many_thresholds_are_capped_to_exact_points_of_the_curve():
    labels, _, probs = _binary(5000, seed=3, digits=6)
    curve = em.curve_points(labels == 1, probs[:, 1])
    fpr, tpr, thresholds = skm.roc_curve(labels, probs[:, 1], drop_intermediate=False)
    assert len(fpr) > 1000 and len(curve["fpr"]) == em.MAX_CURVE_POINTS
    index = {round(float(t), 6): i for i, t in enumerate(thresholds)}
    for t, x, y in zip(curve["thresholds"][1:], curve["fpr"][1:], curve["tpr"][1:],
                       strict=True):
        i = index[round(t, 6)]  # every kept point is one of sklearn's, at its threshold
        assert (x, y) == pytest.approx((fpr[i], tpr[i]), rel=1e-5)
    assert (curve["fpr"][-1], curve["tpr"][-1]) == (1.0, 1.0)  # the last point is kept


def test_multiclass_curves_are_one_vs_rest_per_class():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 60)
    logits = rng.normal(size=(60, 3)) + 1.2 * np.eye(3)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    out = em.classification_metrics(labels, probs.argmax(axis=1), probs, ["a", "b", "c"])
    assert out["curves"]["one_vs_rest"] is True and list(out["curves"]["classes"]) == \
        ["a", "b", "c"]
    for c, name in enumerate("abc"):
        fpr, tpr, _ = skm.roc_curve(labels == c, probs[:, c], drop_intermediate=False)
        curve = out["curves"]["classes"][name]
        assert curve["fpr"] == pytest.approx(fpr, rel=1e-5)
        assert curve["tpr"] == pytest.approx(tpr, rel=1e-5)
    assert em.curve_points(np.ones(5, bool), np.linspace(0, 1, 5)) is None  # one class only


def _summary(with_baseline: bool = True) -> dict:
    labels, predicted, probs = _binary(400, seed=5)
    _, base_pred, base_probs = _binary(400, seed=6)
    island = np.array(["Biscoe", "Dream", "Torgersen", "Biscoe"] * 100)
    arrays = {"labels": labels, "candidate_pred": predicted, "candidate_probs": probs}
    if with_baseline:
        arrays.update(baseline_pred=base_pred, baseline_probs=base_probs)
    options = Options(compute_confidence_intervals=False)
    slices = [score_slice((), arrays, "classification", ["0", "1"], options)]
    for value in ("Biscoe", "Dream", "Torgersen"):
        rows = island == value
        slices.append(score_slice((("island", value),), {k: v[rows] for k, v in arrays.items()},
                                  "classification", ["0", "1"], options))
    summary = json_ready({
        "task": "classification", "label_key": "species", "classes": ["0", "1"],
        "example_splits": ["eval"], "candidate_model": {"id": 7, "uri": "/m/7"},
        "baseline_model": {"id": 3, "uri": "/m/3"} if with_baseline else None,
        "baseline_note": None, "trivial_baseline": None, "slices": slices,
        "omitted_slices": [], "skipped_examples": {}, "min_slice_size": 1, "fairness": None,
        "attributions": None})
    return json.loads(json.dumps(summary)), (labels, probs)


VALIDATION = {"blessed": False, "reasons": ["accuracy on slice Overall: 0.5 is outside"],
              "warnings": [], "has_baseline": True, "checks": [
                  {"slice": "Overall", "metric": "accuracy", "kind": "value", "passed": False,
                   "value": 0.5, "baseline": None, "bound": {"lower_bound": 0.6},
                   "message": ""},
                  {"slice": "Overall", "metric": "accuracy", "kind": "change", "passed": True,
                   "value": 0.5, "baseline": 0.45, "bound": {"direction": "HIGHER_IS_BETTER",
                                                              "absolute": -1e-10},
                   "message": ""}]}


def _embedded(report: str) -> dict:
    (text,) = re.findall(r"<script type='application/json' id='evaluation'>(.*?)</script>",
                         report, re.S)
    return json.loads(text)


def test_report_embeds_the_evaluators_curves_and_calibration_bins_equal_a_hand_count():
    summary, (labels, probs) = _summary()
    report = render_evaluation_report(summary, VALIDATION, slice_gap_report(summary["slices"]))
    data = _embedded(report)
    overall = data["slices"][0]["candidate"]
    fpr, tpr, _ = skm.roc_curve(labels, probs[:, 1], drop_intermediate=False)
    assert overall["curves"]["classes"]["1"]["fpr"] == pytest.approx(fpr, rel=1e-5)
    assert overall["curves"]["classes"]["1"]["tpr"] == pytest.approx(tpr, rel=1e-5)
    assert data["curve_classes"] == ["1"] and data["has_baseline"] is True
    assert [s["slice"] for s in data["slices"]] == ["Overall", "island=Biscoe", "island=Dream",
                                                    "island=Torgersen"]
    # calibration bins by hand: top-label confidence in tenths, accuracy of the argmax
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    for b in overall["calibration"]:
        rows = (confidence >= b["lower"]) & ((confidence < b["upper"]) | (b["upper"] == 1.0))
        rows &= np.minimum((confidence * 10).astype(int), 9) == round(b["lower"] * 10)
        assert b["count"] == int(rows.sum())
        if rows.any():
            assert b["mean_confidence"] == pytest.approx(confidence[rows].mean())
            assert b["accuracy"] == pytest.approx(correct[rows].mean())
    assert sum(b["count"] for b in overall["calibration"]) == len(labels)


def test_report_writes_thresholds_and_counts_readably_and_holds_no_network_reference():
    summary, _ = _summary()
    report = render_evaluation_report(summary, VALIDATION, slice_gap_report(summary["slices"]))
    assert "<td>accuracy &gt;= 0.6</td>" in report
    assert "<td>accuracy - baseline &gt;= -0.0000000001</td>" in report
    assert not re.search(r"https?://", report)
    assert "<td>400 <span class=muted>" not in report  # heatmap cells are counts of a class
    heat = report.split("class=heatmap")[1].split("</table>")[0]
    cells = [int(c.replace(",", "")) for c in re.findall(r">([\d,]+) <span", heat)]
    assert sum(cells) == 400
    server_side = re.sub(r"<script.*?</script>", "", report, flags=re.S)
    assert not re.search(r"\d\.\d+e[+-]\d\d", server_side)  # no scientific notation
    assert "Slice gaps (worst slices against overall)" in report


@pytest.mark.parametrize(("kind", "bound", "text"), [
    ("value", {"lower_bound": 0.6}, "accuracy >= 0.6"),
    ("value", {"upper_bound": 0.3}, "accuracy <= 0.3"),
    ("value", {"lower_bound": 0.5, "upper_bound": 0.9}, "0.5 <= accuracy <= 0.9"),
    ("change", {"direction": "LOWER_IS_BETTER", "absolute": 0.01, "relative": 0.1},
     "accuracy - baseline <= 0.01 and (accuracy - baseline) / baseline <= 0.1"),
])
def test_threshold_text(kind, bound, text):
    assert threshold_text("accuracy", kind, bound) == text


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_the_slice_views_and_curves_draw_in_a_browser(tmp_path):
    summary, _ = _summary()
    path = tmp_path / "report.html"
    path.write_text(render_evaluation_report(summary, VALIDATION,
                                             slice_gap_report(summary["slices"])))
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                          "--virtual-time-budget=3000", "--dump-dom", str(path)],
                         capture_output=True, text=True, timeout=120).stdout
    bars = dom.split('id="slice-bars"')[1].split("</svg>")[0]
    assert bars.count("<rect") == 8  # 4 slices x candidate and baseline
    table = dom.split('id="slice-table"')[1].split("</table>")[0]
    assert len(re.findall(r"<tr>", table)) == 5 and ">Overall<" in table
    assert 'id="metric"' in dom and "<option selected=\"\">accuracy</option>" in dom
    compare = dom.split('id="compare"')[1].split("</table>")[0]
    assert "island=Dream" in compare and "candidate − baseline" in compare
    curves = dom.split('id="curves"')[1].split("<script")[0]
    assert curves.count("<polyline") == 4  # ROC and PR of candidate and baseline
    assert "AUC " in curves and "<circle" in curves  # the calibration plot


def test_a_regression_report_has_slice_views_and_no_curves():
    rng = np.random.default_rng(8)
    y = rng.normal(size=120)
    arrays = {"labels": y, "candidate_pred": y + rng.normal(size=120) * 0.3}
    options = Options(compute_confidence_intervals=False)
    summary, _ = _summary(with_baseline=False)
    summary.update(task="regression", classes=[], slices=json_ready(
        [score_slice((), arrays, "regression", [], options)]))
    report = render_evaluation_report(summary, {**VALIDATION, "checks": []},
                                      slice_gap_report(summary["slices"]))
    data = _embedded(report)
    assert data["default_metric"] == "rmse" and data["curve_classes"] == []
    assert data["slices"][0]["candidate"]["metrics"]["example_count"] == 120
    assert "id=curves" not in report and "Confusion matrix" not in report
