"""Lineage you can read and click: ``gristmill lineage ID`` trees, component-run lineage
tables in MLflow, and model versions linked to the run that trained them."""

from __future__ import annotations

import json
import re

import pytest
from orchestrator_fakes import Counter, diamond, make_pipeline, read_value, write_value

from gristmill.components import InputArtifact, OutputArtifact, component
from gristmill.components.pusher.component import Pusher
from gristmill.metadata.standard_artifacts import Examples, Model
from gristmill.orchestrator import SequentialRunner
from gristmill.orchestrator.cli import main


@component
def FakeTrainer(examples: InputArtifact[Examples], model: OutputArtifact[Model]) -> None:
    """A "model": the input's value, in a file."""
    write_value(model, read_value(examples))


def client_runs(tracking: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking)
    return client.search_runs([client.get_experiment_by_name("fake").experiment_id],
                              max_results=100)


def _lineage(capsys, db: str, artifact_id: int, *args: str) -> str:
    capsys.readouterr()
    assert main(["lineage", str(artifact_id), "--db", db, *args]) == 0
    return capsys.readouterr().out


@pytest.fixture
def diamond_run(tmp_path, home):
    pipeline = make_pipeline(tmp_path, diamond())
    result = SequentialRunner(mirror_mlflow=False).run(pipeline)
    ids = {n: result.node(n).outputs["out"][0].id for n in ("Source", "left", "right", "Join")}
    executions = {n: result.node(n).execution_id for n in ids}
    return pipeline.metadata_url, result.run_id, ids, executions


@pytest.mark.unit
def test_lineage_up_draws_the_tree_to_the_source(diamond_run, capsys):
    db, run_id, ids, ex = diamond_run
    text = _lineage(capsys, db, ids["Join"], "--direction", "up")
    assert text.splitlines() == [
        f"Examples #{ids['Join']}",
        f"└─ <- Join  execution #{ex['Join']} COMPLETE  run {run_id}",
        f"   ├─ a: Examples #{ids['left']}",
        f"   │  └─ <- left  execution #{ex['left']} COMPLETE  run {run_id}",
        f"   │     └─ x: Examples #{ids['Source']}",
        f"   │        └─ <- Source  execution #{ex['Source']} COMPLETE  run {run_id}",
        f"   └─ b: Examples #{ids['right']}",
        f"      └─ <- right  execution #{ex['right']} COMPLETE  run {run_id}",
        f"         └─ x: Examples #{ids['Source']}",
        f"            └─ <- Source  execution #{ex['Source']} COMPLETE  run {run_id}",
        "               └─ (shown above)"]


@pytest.mark.unit
def test_lineage_down_and_both_and_the_hops_cut(diamond_run, capsys):
    db, run_id, ids, ex = diamond_run
    down = _lineage(capsys, db, ids["Source"], "--direction", "down").splitlines()
    assert down[0] == f"Examples #{ids['Source']}"
    assert down[1] == f"├─ -> left  execution #{ex['left']} COMPLETE  run {run_id}"
    assert f"│  └─ out: Examples #{ids['left']}" in down
    assert sum("-> Join" in line for line in down) == 2
    both = _lineage(capsys, db, ids["left"], "--direction", "both").splitlines()
    assert both[0] == "upstream (made from):" and "downstream (fed):" in both
    assert both[both.index("downstream (fed):") + 2].endswith(
        f"-> Join  execution #{ex['Join']} COMPLETE  run {run_id}")
    cut = _lineage(capsys, db, ids["Join"], "--direction", "upstream", "--hops", "1")
    assert cut.count("… (stopped at --hops 1)") == 2 and "Source" not in cut
    as_json = json.loads(_lineage(capsys, db, ids["Join"], "--direction", "up", "--json"))
    assert as_json["direction"] == "upstream" and len(as_json["executions"]) == 4


@pytest.mark.integration
def test_component_runs_carry_lineage_and_model_versions_link_to_the_trainer(
        tmp_path, home, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("GRISTMILL_MLFLOW_MIRROR", "sync")
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    counter = Counter(n=4)
    trainer = FakeTrainer(examples=counter.outputs["examples"]).with_id("Trainer")
    pusher = Pusher(model=trainer.outputs["model"], registered_model_name="fakemodel",
                    push_destination={"filesystem": {"base_directory": str(tmp_path / "srv")}})
    pipeline = make_pipeline(tmp_path, [counter, trainer, pusher], tracking_uri=tracking)
    result = SequentialRunner().run(pipeline)
    assert result.status == "COMPLETE", [(c.node_id, c.error) for c in result.components]
    cached = SequentialRunner().run(pipeline)
    assert cached.node("Pusher").state.value == "CACHED"
    journal = (home / "mirror" / f"{cached.run_id}.done").read_text()
    assert '"op": "early_runs"' not in journal  # a cache hit opens no MLflow run early
    assert '"op": "early_runs"' in (home / "mirror" / f"{result.run_id}.done").read_text()
    cached_parent = next(r for r in client_runs(tracking)
                         if r.data.tags["gristmill.run_id"] == cached.run_id
                         and "mlflow.parentRunId" not in r.data.tags)
    assert "gristmill.model_versions" not in cached_parent.data.tags  # it registered none
    client = MlflowClient(tracking_uri=tracking)
    experiment_id = client.get_experiment_by_name("fake").experiment_id
    runs = client.search_runs([experiment_id], max_results=100)
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags
                 and r.data.tags["gristmill.run_id"] == result.run_id]
    children = {r.data.tags["gristmill.node"]: r for r in runs
                if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    link = {n: f"#/experiments/{experiment_id}/runs/{r.info.run_id}"
            for n, r in children.items()}
    examples_id = result.node("Counter").outputs["examples"][0].id
    model_id = result.node("Trainer").outputs["model"][0].id
    note = children["Trainer"].data.tags["mlflow.note.content"]
    assert f"| examples | #{examples_id} | Examples | [Counter]({link['Counter']}) |" in note
    assert f"| model | #{model_id} | Model | [Pusher]({link['Pusher']}) |" in note
    client.download_artifacts(children["Trainer"].info.run_id, "lineage.html", str(tmp_path))
    page = (tmp_path / "lineage.html").read_text()
    assert f'<a href="/{link["Counter"]}" target="_blank">Counter</a>' in page
    assert "<script" not in page
    counter_note = children["Counter"].data.tags["mlflow.note.content"]
    assert "**Inputs**\n\n(none)" in counter_note

    version = client.get_model_version("fakemodel", "1")
    # MLflow's model page links a version to its run through run_id: the Trainer's run.
    assert version.run_id == children["Trainer"].info.run_id
    assert version.source == f"runs:/{children['Trainer'].info.run_id}/pushed_model"
    assert children["Trainer"].data.tags["gristmill.state"] == "COMPLETE"  # adopted, replayed
    assert children["Trainer"].info.status == "FINISHED"
    assert version.tags["gristmill.source_mlflow_run_id"] == children["Trainer"].info.run_id
    assert f"trained by [Trainer]({link['Trainer']})" in version.description
    assert f"pushed by [Pusher]({link['Pusher']})" in version.description
    assert parent.data.tags["gristmill.model_versions"] == "fakemodel version 1"
    assert re.search(r"- \[fakemodel version 1\]\(#/models/fakemodel/versions/1\) "
                     r"\(alias `champion`\), trained by \[Trainer\]",
                     parent.data.tags["mlflow.note.content"])


@pytest.mark.integration
def test_a_retried_replay_keeps_the_runs_opened_during_the_pipeline_run(
        tmp_path, home, monkeypatch):
    from mlflow import MlflowClient

    import gristmill.orchestrator.mlflow_mirror as mirror
    from gristmill.orchestrator.mlflow_replay import _Replayer, replay_file

    monkeypatch.setattr(mirror, "_spawn_replay", lambda path, uri: None)  # replay by hand
    monkeypatch.setenv("GRISTMILL_MLFLOW_MIRROR", "async")
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    counter = Counter(n=4)
    trainer = FakeTrainer(examples=counter.outputs["examples"]).with_id("Trainer")
    pusher = Pusher(model=trainer.outputs["model"], registered_model_name="fakemodel",
                    push_destination={"filesystem": {"base_directory": str(tmp_path / "srv")}})
    result = SequentialRunner().run(make_pipeline(tmp_path, [counter, trainer, pusher],
                                                  tracking_uri=tracking))
    (journal,) = (home / "mirror").glob("*.ready")
    original = _Replayer._on_end_node

    def fail_on_pusher(self, event):
        if event["node"] == "Pusher":
            raise ConnectionError("tracking server went away")
        original(self, event)

    monkeypatch.setattr(_Replayer, "_on_end_node", fail_on_pusher)
    with pytest.raises(ConnectionError):
        replay_file(str(journal), tracking)
    monkeypatch.setattr(_Replayer, "_on_end_node", original)
    replay_file(str(journal), tracking)
    client = MlflowClient(tracking_uri=tracking)
    runs = client.search_runs([client.get_experiment_by_name("fake").experiment_id],
                              max_results=100)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [p.data.tags["gristmill.run_id"] for p in parents] == [result.run_id]
    children = {r.data.tags["gristmill.node"]: r for r in runs if r not in parents}
    assert sorted(children) == ["Counter", "Pusher", "Trainer"]  # each once
    assert client.get_model_version("fakemodel", "1").run_id == \
        children["Trainer"].info.run_id
    assert {r.data.tags["mlflow.parentRunId"] for r in children.values()} == {
        parents[0].info.run_id}
