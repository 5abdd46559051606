"""A fast subset of the crash-safety harness: kill -9 trials and the invariant checker."""

from __future__ import annotations

import shutil

import pytest

from . import crash
from .common import store_problems, unfinished_executions
from .crash_pipeline import POINTS


@pytest.mark.unit
def test_trial_plan_covers_every_kill_point_and_random_delays():
    import random

    plans = crash.plan_trials(100, random.Random(1))

    points = {p["point"].split(":")[0] for p in plans if "point" in p}
    assert points == set(POINTS)
    assert sum("delay" in p for p in plans) == 50
    assert sum(p["second_crash"] for p in plans) == 20


@pytest.mark.integration
@pytest.mark.slow
def test_five_kill_trials_recover_and_reproduce_an_uninterrupted_run(tmp_path):
    result = crash.run(trials=5, seed=3, work=tmp_path)

    assert result["trials"] == 5
    assert result["failures"] == 0, result["details"]
    endings = result["figures"]["endings"]
    assert sum(n for how, n in endings.items() if how.startswith("killed-at-point")) == 2
    assert not any(how.startswith("finished") for how in endings)  # every trial was a kill


@pytest.mark.integration
def test_invariant_checker_reports_a_live_artifact_whose_files_vanished(tmp_path):
    from gristmill.metadata.store import open_store
    from gristmill.orchestrator.runner import SequentialRunner

    from .crash_pipeline import create_pipeline

    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    run = SequentialRunner(mirror_mlflow=False).run(
        create_pipeline(root=str(tmp_path / "root"), metadata_url=url))
    shutil.rmtree(run.node("Fit").outputs["model"][0].uri)

    with open_store(url) as store:
        problems = store_problems(store)
        assert unfinished_executions(store) == []
    assert len(problems) == 1 and "points at missing" in problems[0]
