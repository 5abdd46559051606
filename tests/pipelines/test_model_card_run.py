"""The penguin run's Pusher: its model card lies beside the pushed files and on its MLflow run
(attached through the mirror's generic report path, replayed in-process here)."""

from __future__ import annotations

import json
import os

import pytest
from pipeline_runs import PenguinRuns

pytestmark = pytest.mark.e2e


def test_model_card_is_beside_the_pushed_files_and_on_the_pushers_mlflow_run(
        penguin_runs: PenguinRuns):
    from mlflow import MlflowClient

    out = penguin_runs.cold.output_uri("Pusher", "pushed_model")
    with open(os.path.join(out, "push_result.json")) as f:
        pushed = json.load(f)
    assert pushed["pushed"] == 1 and pushed["model_card"] == "model_card.html"
    with open(os.path.join(pushed["pushed_destination"], "model_card.html")) as f:
        card = f.read()
    with open(os.path.join(out, "model_card.html")) as f:
        assert f.read() == card
    assert f"{pushed['pushed_destination']} (version {pushed['pushed_version']})" in card
    client = MlflowClient(tracking_uri=f"sqlite:///{penguin_runs.home}/mlflow.db")
    experiment = client.get_experiment_by_name("penguin")
    runs = [r for r in client.search_runs([experiment.experiment_id], max_results=500)
            if r.data.tags.get("gristmill.node") == "Pusher"]
    assert runs, "no MLflow run for the Pusher"
    attached = {a.path for r in runs for a in client.list_artifacts(r.info.run_id)}
    assert "model_card.html" in attached, attached
