"""``gristmill ui`` after the penguin runs: MLflow REST API and the rendered page in Chromium.

Starts the UI on a free 127.0.0.1 port over the session's GRISTMILL_HOME, checks what the
REST API serves (experiment, parent and nested runs, reports, curves, metrics, registered
model), then renders the parent run's page in headless Chromium and checks it lists the
component runs. The screenshot is kept under the test's tmp dir; set
``GRISTMILL_UI_SCREENSHOT=docs/ui_run.png`` to (re)write the one in the docs.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from browser import chromium, get, gristmill_ui, rendered_dom, screenshot, text_of
from pipeline_runs import PenguinRuns

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MLFLOW_CHILD_RUNS_SHOWN = 10


def _api(base: str, path: str, **params: Any) -> dict[str, Any]:
    import json

    query = urllib.parse.urlencode(params, doseq=True)
    return json.loads(get(f"{base}/api/2.0/mlflow/{path}?{query}"))


@pytest.fixture(scope="module")
def ui(penguin_runs: PenguinRuns) -> Iterator[str]:
    """Base URL of a running ``gristmill ui``; the server's process group is ended after."""
    with gristmill_ui(penguin_runs.env, penguin_runs.home) as base:
        yield base


@pytest.fixture(scope="module")
def runs(ui: str) -> dict[str, Any]:
    """The penguin experiment and its runs, split into parents and children."""
    import json

    experiment = _api(ui, "experiments/get-by-name", experiment_name="penguin")["experiment"]
    body = json.dumps({"experiment_ids": [experiment["experiment_id"]],
                       "max_results": 500}).encode()
    request = urllib.request.Request(f"{ui}/api/2.0/mlflow/runs/search", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        found = json.loads(response.read())["runs"]
    tagged = [(r, {t["key"]: t["value"] for t in r["data"].get("tags", [])}) for r in found]
    parents = [(r, t) for r, t in tagged if "mlflow.parentRunId" not in t]
    children = [(r, t) for r, t in tagged if "mlflow.parentRunId" in t]
    return {"experiment": experiment, "parents": parents, "children": children}


def _parent_of(runs: dict[str, Any], gristmill_run_id: str) -> dict[str, Any]:
    matches = [r for r, t in runs["parents"] if t.get("gristmill.run_id") == gristmill_run_id]
    assert len(matches) == 1, f"expected one parent run for {gristmill_run_id}"
    return matches[0]


def _children_of(runs: dict[str, Any], parent_id: str) -> dict[str, dict[str, Any]]:
    return {t["gristmill.node"]: r for r, t in runs["children"]
            if t["mlflow.parentRunId"] == parent_id}


def _mirrored(cli_run) -> dict[str, str]:
    """Node -> state of every node, as the MLflow mirror shows them (Resolvers included)."""
    return {c["name"]: c["state"] for c in cli_run.result["components"]}


def _count(cli_run, state: str) -> int:
    return sum(1 for s in _mirrored(cli_run).values() if s == state)


def _metrics(run: dict[str, Any]) -> dict[str, float]:
    return {m["key"]: m["value"] for m in run["data"].get("metrics", [])}


def test_one_parent_run_per_pipeline_run_with_nested_component_runs(penguin_runs, runs):
    for cli_run in (penguin_runs.cold, penguin_runs.cached):
        parent = _parent_of(runs, cli_run.result["run_id"])
        children = _children_of(runs, parent["info"]["run_id"])
        states = {name: {t["key"]: t["value"] for t in r["data"]["tags"]}["gristmill.state"]
                  for name, r in children.items()}
        assert states == _mirrored(cli_run)


def test_evaluation_metrics_are_rolled_up_on_the_parent(penguin_runs, runs):
    parent = _parent_of(runs, penguin_runs.cold.result["run_id"])
    assert _metrics(parent)["Evaluator.eval_accuracy"] >= 0.97
    assert _metrics(parent)["components_executed"] == _count(penguin_runs.cold, "COMPLETE")
    cached = _parent_of(runs, penguin_runs.cached.result["run_id"])
    assert _metrics(cached)["components_cached"] == _count(penguin_runs.cached, "CACHED")
    assert _count(penguin_runs.cached, "CACHED") == len(_mirrored(penguin_runs.cached)) - 1


def test_reports_and_training_curves_are_browsable(ui, penguin_runs, runs):
    parent = _parent_of(runs, penguin_runs.cold.result["run_id"])
    children = _children_of(runs, parent["info"]["run_id"])
    for node in ("StatisticsGen", "ExampleValidator", "Evaluator"):
        listed = _api(ui, "artifacts/list", run_id=children[node]["info"]["run_id"])
        names = [f["path"] for f in listed.get("files", [])]
        assert any(n.endswith(".html") for n in names), f"{node}: no HTML report in {names}"
    history = _api(ui, "metrics/get-history", run_id=children["Trainer"]["info"]["run_id"],
                   metric_key="val_loss")["metrics"]
    assert len({m["step"] for m in history}) >= 5, "expected a per-epoch val_loss curve"


def test_registered_model_has_the_champion_alias(ui, penguin_runs):
    model = _api(ui, "registered-models/get", name="penguin")["registered_model"]
    aliases = {a["alias"]: a["version"] for a in model.get("aliases", [])}
    assert "champion" in aliases


def test_run_page_renders_the_component_runs_in_chromium(ui, penguin_runs, runs, tmp_path):
    binary = chromium()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    parent = _parent_of(runs, penguin_runs.cold.result["run_id"])
    url = (f"{ui}/#/experiments/{runs['experiment']['experiment_id']}/runs/"
           f"{parent['info']['run_id']}")
    expected = set(_mirrored(penguin_runs.cold))
    section = ""
    for budget_ms in (8000, 20000, 40000):  # the page fetches its data after load
        dom = rendered_dom(binary, url, budget_ms, tmp_path / "profile")
        section = _child_runs_section(text_of(dom))
        if _listed(section, expected):
            break
    listed = _listed(section, expected)
    # MLflow lists the first 10 child runs and a "Load more" button for the rest.
    assert len(listed) >= min(len(expected), MLFLOW_CHILD_RUNS_SHOWN), (section, expected)
    assert listed == expected or "Load more" in section, (section, expected)
    shot = screenshot(binary, url, tmp_path / "ui_run.png", tmp_path / "profile",
                      size="1400,1000")
    target = os.environ.get("GRISTMILL_UI_SCREENSHOT")
    if target:
        shutil.copyfile(shot, target)


def _child_runs_section(text: str) -> str:
    """The text of the run page's "Child runs" row (up to the next row, "Source")."""
    start = text.find("Child runs")
    end = text.find("Source", start)
    return text[start:end] if start >= 0 and end > start else ""


def _listed(section: str, names: set[str]) -> set[str]:
    return {name for name in names if re.search(rf"\b{re.escape(name)}\b", section)}
