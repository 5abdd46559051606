"""The MLflow UI as a new user meets it after a penguin run, in headless Chromium (issue 21).

One penguin run with ``enable_tuning=true`` in a fresh GRISTMILL_HOME, ``gristmill ui``, then
each page opened by a fresh browser profile and checked by its rendered content: the
experiment opens in the model-training view (its runs table, Datasets filled), the parent
run's DAG artifact renders every node, the model version page links to its Trainer run, and
the Tuner run lists its trials as child runs. Set ``GRISTMILL_UI_SCREENSHOT_DIR=docs`` to
(re)write the README's screenshots (``docs/ui_*.png``).
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from browser import chromium, gristmill_ui, rendered_dom, screenshot, shrink_png, text_of
from pipeline_runs import PENGUIN, gristmill_env, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

BUDGETS_MS = (8000, 20000)  # the pages fetch their data after load; retried once, longer


@pytest.fixture(scope="module")
def browser() -> str:
    binary = chromium()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    return binary


@pytest.fixture(scope="module")
def site(browser, tmp_path_factory) -> dict[str, Any]:
    """The tuned penguin run, the UI's base URL and the MLflow ids of its runs."""
    home = tmp_path_factory.mktemp("ui_home")
    env = gristmill_env(home)
    run = run_cli(["run", str(PENGUIN), "--param", "enable_tuning=true"], env, cwd=home)
    assert run.returncode == 0, run.stderr[-4000:]
    with gristmill_ui(env, home) as base:
        experiment = _api(base, "experiments/get-by-name", experiment_name="penguin")
        runs = _search(base, experiment["experiment"]["experiment_id"])
        yield {"base": base, "run": run, "home": home, "runs": runs,
               "experiment": experiment["experiment"]["experiment_id"],
               "profile": tmp_path_factory.mktemp("profile") / "p"}


def _api(base: str, path: str, **params: Any) -> dict[str, Any]:
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{base}/api/2.0/mlflow/{path}?{query}", timeout=10) as r:
        return json.loads(r.read())


def _search(base: str, experiment_id: str) -> dict[str, dict[str, Any]]:
    """Run name -> ``{"id", "tags"}`` of every run of the experiment."""
    body = json.dumps({"experiment_ids": [experiment_id], "max_results": 500}).encode()
    request = urllib.request.Request(f"{base}/api/2.0/mlflow/runs/search", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        found = json.loads(response.read())["runs"]
    return {r["info"]["run_name"]: {"id": r["info"]["run_id"], "tags": {
        t["key"]: t["value"] for t in r["data"].get("tags", [])}} for r in found}


def _page(site, browser, route: str, ready: str) -> tuple[str, str]:
    """``(DOM, text)`` of ``route`` once ``ready`` is in its text (or the last try)."""
    url = f"{site['base']}/{route}"
    for budget in BUDGETS_MS:
        dom = rendered_dom(browser, url, budget, site["profile"])
        text = text_of(dom)
        if re.search(ready, text):
            break
    _maybe_screenshot(site, browser, url, route)
    return dom, text


def _maybe_screenshot(site, browser, url: str, route: str) -> None:
    target_dir = os.environ.get("GRISTMILL_UI_SCREENSHOT_DIR")
    if not target_dir:
        return
    names = {"#/experiments/": "ui_experiment", "/runs/": "ui_run",
             "/artifacts/": "ui_dag", "#/models/": "ui_model_version"}
    name = [v for k, v in names.items() if k in route][-1]
    if site["runs"]["Tuner"]["id"] in route:
        name = "ui_tuner_trials"
    shot = screenshot(browser, url, site["home"] / f"{name}.png", site["profile"])
    shrink_png(shot, Path(target_dir) / f"{name}.png")


def test_a_fresh_browser_opens_the_experiment_on_its_runs_table_with_datasets(site, browser):
    parent = site["run"].result["run_id"]
    _, text = _page(site, browser, f"#/experiments/{site['experiment']}", parent)
    assert "Token Usage" not in text and "Overview" not in text, text[:600]
    assert re.search(r"\bRuns\b.*\bRun Name\b", text), text[:600]
    assert parent in text, text[:600]
    # The Datasets column of the pipeline run's row names the data it read.
    assert re.search(rf"{parent}.*CsvExampleGen:examples #\d+", text), text[:800]


def test_the_parent_run_page_lists_its_component_runs_source_and_datasets(site, browser):
    parent = site["runs"][site["run"].result["run_id"]]["id"]
    _, text = _page(site, browser, f"#/experiments/{site['experiment']}/runs/{parent}",
                    "Child runs.*CsvExampleGen")
    about = text[text.find("About this run"):]
    assert re.search(r"Source pipeline\.py", about), about[:800]
    datasets = about[about.find("Datasets"):about.find("Tags")]
    # Both ExampleGens' outputs: the first shown with its digest, "+1" for the other.
    assert re.search(r"ExampleGen:examples #\d+ \([0-9a-f]{36}\) ingested \+1", datasets), \
        datasets


def test_the_parent_runs_dag_artifact_renders_every_node(site, browser):
    parent = site["runs"][site["run"].result["run_id"]]["id"]
    # The run page shows the artifact inline (MLflow's sandboxed HTML iframe, from a blob:
    # URL that --dump-dom does not descend into) ...
    dom, _ = _page(site, browser,
                   f"#/experiments/{site['experiment']}/runs/{parent}/artifacts/dag.html",
                   "dag.html")
    assert 'class="mlflow-html-iframe"' in dom
    # ... so the same bytes, as MLflow serves them, are rendered on their own.
    query = urllib.parse.urlencode({"path": "dag.html", "run_uuid": parent})
    served = site["home"] / "dag_served.html"
    with urllib.request.urlopen(f"{site['base']}/get-artifact?{query}", timeout=10) as r:
        served.write_bytes(r.read())
    rendered = rendered_dom(browser, served.as_uri(), 2000, site["profile"])
    drawn = set(re.findall(r'<g class="node" data-node="([^"]+)"', rendered))
    assert drawn == {c["name"] for c in site["run"].result["components"]}
    assert len(drawn) == 13  # penguin's 12 nodes and the Tuner


def test_the_model_version_page_links_to_its_trainer_run(site, browser):
    trainer = site["runs"]["Trainer"]["id"]
    dom, text = _page(site, browser, "#/models/penguin/versions/1", "Source Run")
    assert "Source Run" in text and "Trainer" in text, text[:600]
    assert re.search(rf'href="[^"]*#/experiments/{site["experiment"]}/runs/{trainer}"', dom)


def test_the_tuner_run_lists_its_trials_as_child_runs(site, browser):
    tuner = site["runs"]["Tuner"]["id"]
    trials = {name for name, r in site["runs"].items()
              if r["tags"].get("mlflow.parentRunId") == tuner}
    assert trials == {f"trial-{n}" for n in range(6)}
    best = [name for name in trials if site["runs"][name]["tags"]["gristmill.best_trial"]
            == "true"]
    assert len(best) == 1
    _, text = _page(site, browser, f"#/experiments/{site['experiment']}/runs/{tuner}",
                    "Child runs.*trial-")
    section = text[text.find("Child runs"):]
    assert {t for t in trials if re.search(rf"\b{t}\b", section)} == trials, section[:600]
