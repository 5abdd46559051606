"""The model card: its figures are the evaluation's, it is offline, it shows who blessed."""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser

import pytest
from bundles import penguin_like_table, train_bundle, write_examples
from test_manual_override import Recorder, _record

from gristmill.components.evaluator.config import (
    AttributionsSpec,
    EvalConfig,
    EvaluatorParameters,
    FairnessSpec,
    MetricConfig,
    MetricsSpec,
    SlicingSpec,
)
from gristmill.components.evaluator.executor import EvaluatorExecutor
from gristmill.components.framework.executor import ExecutionContext
from gristmill.components.pusher.config import ModelCardInfo
from gristmill.components.pusher.executor import PusherExecutor
from gristmill.components.pusher.model_card import CARD_FILE
from gristmill.components.schema_gen.component import SchemaGen
from gristmill.components.schema_gen.executor import SchemaGenExecutor
from gristmill.components.statistics_gen.component import StatisticsGen
from gristmill.components.statistics_gen.executor import StatisticsGenExecutor
from gristmill.metadata.standard_artifacts import (
    ExampleStatistics,
    ModelBlessing,
    ModelEvaluation,
    PushedModel,
    Schema,
)

INFO = ModelCardInfo(intended_use="sorting penguins on field trips",
                     limitations="three islands only", owners=["alice@example.org"])


class CardParser(HTMLParser):
    """Tables of each ``<section id=...>`` as lists of rows of cell texts; every src/href."""

    def __init__(self):
        super().__init__()
        self.sections: dict[str, list[list[list[str]]]] = {}
        self.links: list[str] = []
        self.text: dict[str, str] = {}
        self._section = self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [v for k, v in attrs.items() if k in ("src", "href") and v]
        if tag == "section":
            self._section = attrs["id"]
            self.sections[self._section], self.text[self._section] = [], ""
        elif tag == "table" and self._section:
            self.sections[self._section].append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._section:
            self.sections[self._section][-1].append(self._row)
            self._row = None
        elif tag == "section":
            self._section = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._section:
            self.text[self._section] += data


def parse(path) -> CardParser:
    parser = CardParser()
    with open(path, encoding="utf-8") as f:
        parser.feed(f.read())
    return parser


def number(cell: str) -> float:
    return float(cell.replace(",", ""))


def by_first_column(table: list[list[str]]) -> dict[str, list[str]]:
    header, *rows = table
    return {row[0]: dict(zip(header, row, strict=True)) for row in rows}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A trained bundle, its statistics and schema, and a real evaluation with fairness and
    attributions."""
    root = tmp_path_factory.mktemp("card")
    train, eval_table = penguin_like_table(300, seed=0), penguin_like_table(150, seed=1)
    examples = write_examples(str(root / "examples"), {"train": train, "eval": eval_table})
    model = train_bundle(str(root / "model"), train, model_id=5)
    model.producer_component, model.output_key = "Trainer", "model"
    stats, schema = ExampleStatistics(str(root / "stats"), id=3), Schema(str(root / "schema"), id=4)
    evaluation, blessing = ModelEvaluation(str(root / "ev"), id=6), ModelBlessing(str(root / "bl"))
    for artifact in (stats, schema, evaluation, blessing):
        os.makedirs(artifact.uri)
    context = ExecutionContext(component_id="X", tmp_dir=str(root))
    StatisticsGenExecutor(context).Do({"examples": [examples]}, {"statistics": [stats]},
                                      StatisticsGen.PARAMETERS())
    SchemaGenExecutor(context).Do({"statistics": [stats]}, {"schema": [schema]},
                                  SchemaGen.PARAMETERS())
    config = EvalConfig(
        slicing_specs=[SlicingSpec(), SlicingSpec(feature_keys=["island"])],
        fairness=FairnessSpec(sensitive_features=["island"], positive_class="Gentoo"),
        attributions=AttributionsSpec(max_rows=100, num_repeats=2, num_bootstrap_samples=20),
        metrics_specs=[MetricsSpec(metrics=[MetricConfig(class_name="Accuracy")])])
    EvaluatorExecutor(context).Do({"examples": [examples], "model": [model]},
                                  {"evaluation": [evaluation], "blessing": [blessing]},
                                  EvaluatorParameters(eval_config=config))
    blessing.id = 7
    return {"examples": examples, "model": model, "statistics": stats, "schema": schema,
            "evaluation": evaluation, "model_blessing": blessing, "root": root}


def push(tmp_path, inputs: dict, name: str = "out") -> tuple[PushedModel, Recorder]:
    from test_pusher import _params

    out = PushedModel(str(tmp_path / name))
    os.makedirs(out.uri)
    reporter = Recorder()
    attached = []
    reporter.log_artifact = lambda path, artifact_path=None: attached.append(path)
    reporter.attached = attached
    params = _params(tmp_path / "serving").model_copy(update={"model_card": INFO})
    context = ExecutionContext(component_id="Pusher", pipeline_name="penguins", run_id="r-1",
                               execution_id=9, reporter=reporter)
    PusherExecutor(context).Do({k: [v] for k, v in inputs.items()}, {"pushed_model": [out]},
                               params)
    return out, reporter


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GRISTMILL_HOME", str(tmp_path / "home"))


@pytest.mark.integration
def test_card_figures_equal_the_evaluation_and_it_lies_beside_the_pushed_files(
        tmp_path, evaluated):
    inputs = {k: v for k, v in evaluated.items() if k != "root"}
    out, reporter = push(tmp_path, inputs)
    assert out.get_custom_property("pushed") == 1
    pushed_dir = out.get_custom_property("pushed_destination")
    card = parse(os.path.join(out.uri, CARD_FILE))
    # The same card beside the pushed bundle, naming the version it was pushed as.
    with open(os.path.join(pushed_dir, CARD_FILE)) as a, open(out.uri + "/" + CARD_FILE) as b:
        assert a.read() == b.read()
    assert f"{pushed_dir} (version 1)" in card.text["overview"]
    assert reporter.attached == [os.path.join(out.uri, CARD_FILE)]

    with open(os.path.join(evaluated["evaluation"].uri, "metrics.json")) as f:
        metrics = json.load(f)
    with open(os.path.join(evaluated["evaluation"].uri, "validations.json")) as f:
        validations = json.load(f)
    shown = by_first_column(card.sections["metrics"][0])
    assert set(shown) == {s["slice"] for s in metrics["slices"]} == {
        "Overall", "island=Biscoe", "island=Dream", "island=Torgersen"}
    for s in metrics["slices"]:
        row = shown[s["slice"]]
        assert number(row["examples"]) == s["example_count"]
        for name in ("accuracy", "auc", "log_loss", "f1"):
            assert number(row[name]) == pytest.approx(s["candidate"]["metrics"][name], abs=5e-5)

    fair = metrics["fairness"]["features"]["island"]
    metric_table, groups = card.sections["fairness"]
    shown_fair = {row[0]: number(row[1]) for row in metric_table[1:]}
    assert shown_fair == pytest.approx(fair["metrics"], abs=5e-5)
    shown_groups = by_first_column(groups)
    for group, rates in fair["groups"].items():
        assert number(shown_groups[group]["selection rate"]) == pytest.approx(
            rates["selection_rate"], abs=5e-5)
        assert number(shown_groups[group]["TPR"]) == pytest.approx(rates["tpr"], abs=5e-5)

    (attributions,) = card.sections["attributions"]
    overall = {row[1]: number(row[2]) for row in attributions[1:] if row[0] == "Overall"}
    expected = {f: v["importance"] for f, v in metrics["attributions"]["features"].items()}
    assert overall == pytest.approx(expected, abs=5e-5)
    dream = {row[1]: number(row[2]) for row in attributions[1:] if row[0] == "island=Dream"}
    assert dream == pytest.approx({f: v["importance"] for f, v in metrics["attributions"][
        "slices"]["island=Dream"]["features"].items()}, abs=5e-5)

    # Data: row counts per split from the examples and the statistics.
    counts = {row[0]: number(row[1]) for row in card.sections["data"][0][1:]}
    assert counts == {"train": 300, "eval": 150}
    stat_rows = {row[0]: number(row[1]) for row in card.sections["data"][1][1:]}
    assert stat_rows == {"train": 300, "eval": 150}
    schema_features = {row[0] for row in card.sections["schema"][0][1:]}
    assert {"bill_length_mm", "flipper_length_mm", "island", "species"} <= schema_features
    # Intended use from the pipeline, lineage of every input, no edge model.
    assert "sorting penguins on field trips" in card.text["use"]
    assert "alice@example.org" in card.text["use"]
    lineage = by_first_column(card.sections["lineage"][0])
    assert lineage["model"]["produced by"] == "Trainer"
    assert lineage["model"]["artifact"] == "5"
    assert lineage["evaluation"]["artifact"] == "6"
    assert "execution 9" in card.text["lineage"]
    assert "no edge model" in card.text["edge"]
    checks = card.sections["metrics"][1]
    assert [row[3] for row in checks[1:]] == ["passed" if c["passed"] else "FAILED"
                                              for c in validations["checks"]]


@pytest.mark.integration
def test_card_has_no_network_reference(tmp_path, evaluated):
    out, _ = push(tmp_path, {k: v for k, v in evaluated.items() if k != "root"})
    card = parse(os.path.join(out.uri, CARD_FILE))
    with open(os.path.join(out.uri, CARD_FILE)) as f:
        text = f.read()
    assert not [link for link in card.links if re.match(r"\s*(https?:)?//", link)]
    assert not re.search(r"(src|href)\s*=\s*['\"]?\s*(https?:)?//", text)
    assert "<script" not in text and "url(" not in text


@pytest.mark.integration
def test_card_shows_the_manual_blessing_and_the_refusal(tmp_path, evaluated):
    model = evaluated["model"]
    _record(model, "2026-12-03T10-00-00-1", blessed=False, reason="labels of Dream are stale")
    out, _ = push(tmp_path, {"model": model, "model_blessing": evaluated["model_blessing"]})
    assert out.get_custom_property("pushed") == 0
    card = parse(os.path.join(out.uri, CARD_FILE))
    manual = {row[0]: row[1] for row in card.sections["blessing"][0][1:]}
    assert manual["decision"] == "manual blessing REVOKED"
    assert manual["by"] == "alice"
    assert manual["reason"] == "labels of Dream are stale"
    assert "NOT pushed: manual blessing revoked by alice" in card.text["overview"]
    # Not wired: said, not hidden.
    assert "No evaluation: the Pusher was not given an evaluation" in card.text["metrics"]
    assert "No statistics" in card.text["data"]


@pytest.mark.unit
def test_a_skipped_check_reads_skipped_not_failed():
    from gristmill.components.pusher.model_card_html import metrics

    evaluation = {"id": 1, "example_splits": ["eval"], "baseline_model": None,
                  "baseline_note": None, "omitted_slices": [], "skipped_examples": {},
                  "slices": [{"slice": "Overall", "example_count": 10,
                              "metrics": {"auc": 0.9}}],
                  "checks": [{"slice": "Overall", "metric": "auc", "kind": k, "passed": p,
                              "message": "m"} for k, p in (("value", True), ("change", None),
                                                           ("value", False))]}
    parser = CardParser()
    parser.feed(metrics(evaluation))
    assert [row[3] for row in parser.sections["metrics"][1][1:]] == [
        "passed", "skipped", "FAILED"]


@pytest.mark.integration
def test_an_evaluation_of_another_model_is_not_shown_as_this_models(tmp_path, evaluated):
    other = train_bundle(str(tmp_path / "other"), penguin_like_table(60, seed=3), good=False,
                         model_id=55)
    out, _ = push(tmp_path, {"model": other, "evaluation": evaluated["evaluation"]})
    card = parse(os.path.join(out.uri, CARD_FILE))
    assert card.sections["metrics"] == []
    assert "scored model 5, not the pushed model 55" in card.text["metrics"]


@pytest.mark.unit
def test_edge_report_is_shown_when_the_model_has_one(tmp_path):
    from gristmill.components.pusher.model_card_html import edge

    report = {"sizes": {"float": 41234, "int8": 12001}, "accuracy_delta": -0.004,
              "latency_ms": {"p50": 0.21, "p99": 0.9}}
    parser = CardParser()
    parser.feed(edge({"edge_report": report}))
    rows = {row[0]: row[1] for row in parser.sections["edge"][0][1:]}
    assert rows == {"sizes.float": "41,234", "sizes.int8": "12,001", "accuracy_delta": "-0.004",
                    "latency_ms.p50": "0.21", "latency_ms.p99": "0.9"}


@pytest.mark.unit
def test_a_manual_blessing_that_overrules_the_evaluator_is_on_the_pushed_card(tmp_path):
    from test_pusher import _blessing, _model

    model = _model(tmp_path, "m", 12)
    _record(model, "2026-12-03T11-00-00-3", blessed=True, reason="accepted by the risk board")
    out, _ = push(tmp_path, {"model": model,
                             "model_blessing": _blessing(tmp_path, "b", False, 12)})
    assert out.get_custom_property("pushed") == 1
    pushed_card = os.path.join(out.get_custom_property("pushed_destination"), CARD_FILE)
    card = parse(pushed_card)
    manual = {row[0]: row[1] for row in card.sections["blessing"][0][1:]}
    assert manual == {"decision": "manual blessing", "by": "alice", "at": "2026-12-03T10:00:00Z",
                      "reason": "accepted by the risk board", "execution": "5"}
    assert "Evaluator: NOT blessed" in card.text["blessing"]
    assert "overrides the Evaluator" in card.text["blessing"]
