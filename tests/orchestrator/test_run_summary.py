"""The end of ``gristmill run``: headline results, the run's MLflow URL, aligned columns."""

from __future__ import annotations

import re

import pytest
from orchestrator_fakes import Counter, Source, make_pipeline, read_value, write_value

from gristmill.components import InputArtifact, OutputArtifact, Parameter, component
from gristmill.components.pusher.component import Pusher
from gristmill.metadata.standard_artifacts import Examples, Model, ModelBlessing, ModelEvaluation
from gristmill.orchestrator import SequentialRunner
from gristmill.orchestrator.cli_commands import Progress, _print_summary


@component
def FakeTrainer(examples: InputArtifact[Examples], model: OutputArtifact[Model]) -> None:
    """A "model": the input's value, in a file."""
    write_value(model, read_value(examples))


@component
def FakeEvaluator(model: InputArtifact[Model], evaluation: OutputArtifact[ModelEvaluation],
                  blessing: OutputArtifact[ModelBlessing], bless: Parameter[int] = 1) -> None:
    """Record fixed metrics and a blessing, as the Evaluator's artifacts carry them."""
    write_value(evaluation, read_value(model))
    evaluation.set_custom_property("overall_metrics", {
        "loss": 0.08712, "accuracy": 0.97619, "example_count": 84.0, "auc": 1.0,
        "precision": 0.9, "recall": 0.95})
    blessing.set_custom_property("blessed", bless)
    blessing.set_custom_property("blessing_message", "" if bless else "accuracy 0.5 < 0.6")
    open(f"{blessing.uri}/{'BLESSED' if bless else 'NOT_BLESSED'}", "w").close()


def _pipeline(tmp_path, bless: int, tracking: str):
    counter = Counter(n=3)
    trainer = FakeTrainer(examples=counter.outputs["examples"]).with_id("Trainer")
    evaluator = FakeEvaluator(model=trainer.outputs["model"], bless=bless).with_id("Evaluator")
    pusher = Pusher(model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
                    registered_model_name="fakemodel",
                    push_destination={"filesystem": {"base_directory": str(tmp_path / "srv")}})
    return make_pipeline(tmp_path, [counter, trainer, evaluator, pusher], tracking_uri=tracking)


@pytest.mark.integration
def test_summary_names_metrics_blessing_pushed_version_and_the_mlflow_url(
        tmp_path, home, monkeypatch, capsys):
    from mlflow import MlflowClient

    monkeypatch.setenv("GRISTMILL_MLFLOW_MIRROR", "sync")
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    pipeline = _pipeline(tmp_path, 1, tracking)
    result = SequentialRunner().run(pipeline)
    capsys.readouterr()
    _print_summary(result, pipeline)
    lines = capsys.readouterr().err.splitlines()
    assert "  evaluated: Evaluator: accuracy 0.9762, auc 1.0000, loss 0.0871, " \
           "example_count 84 (+2 more in MLflow)" in lines
    assert "  blessing:  Evaluator: BLESSED" in lines
    pushed = next(line for line in lines if line.startswith("  pushed:"))
    assert pushed.startswith("  pushed:    Pusher: fakemodel version 1 (alias champion), ")
    assert pushed.endswith(str(tmp_path / "srv" / "1"))
    client = MlflowClient(tracking_uri=tracking)
    experiment_id = client.get_experiment_by_name("fake").experiment_id
    (parent,) = client.search_runs([experiment_id],
                                   filter_string="tags.`gristmill.run_id` = "
                                                 f"'{result.run_id}' and attributes.run_name = "
                                                 f"'{result.run_id}'")
    assert f"  mlflow:    http://127.0.0.1:5000/#/experiments/{experiment_id}/runs/" \
           f"{parent.info.run_id}   (after `gristmill ui`)" in lines


@pytest.mark.integration
def test_summary_says_not_blessed_and_not_pushed_and_where_mlflow_will_be(
        tmp_path, home, monkeypatch, capsys):
    import gristmill.orchestrator.mlflow_mirror as mirror

    monkeypatch.setattr(mirror, "_spawn_replay", lambda path, uri: None)  # replay pending
    monkeypatch.setenv("GRISTMILL_MLFLOW_MIRROR", "async")
    monkeypatch.setattr(mirror, "_start_tracking_store_creation", lambda uri: None)
    pipeline = _pipeline(tmp_path, 0, f"sqlite:///{tmp_path / 'mlflow.db'}")
    result = SequentialRunner().run(pipeline)
    capsys.readouterr()
    _print_summary(result, pipeline)
    lines = capsys.readouterr().err.splitlines()
    assert "  blessing:  Evaluator: NOT BLESSED (accuracy 0.5 < 0.6)" in lines
    assert any(re.match(r"  pushed:    Pusher: NOT pushed \(model_blessing says NOT blessed",
                        line) for line in lines), lines
    assert f"  mlflow:    being mirrored in the background; `gristmill ui`, then the run named " \
           f"{result.run_id}" in "\n".join(lines)


@pytest.mark.unit
def test_progress_columns_stay_aligned_for_long_node_ids(tmp_path, home, capsys):
    long_id = "a_source_whose_node_id_is_much_longer_than_the_column"
    components = [Source().with_id("s"), Source(value=2).with_id(long_id)]
    progress = Progress([c.id for c in components])
    SequentialRunner(hooks=[progress], mirror_mlflow=False).run(
        make_pipeline(tmp_path, components))
    rows = [line for line in capsys.readouterr().err.splitlines() if "COMPLETE" in line]
    assert len(rows) == 2
    assert len({line.rindex("s") - len(line) for line in rows}) == 1  # right edges match
    assert len({len(line) for line in rows}) == 1, rows


@pytest.mark.unit
def test_summary_says_when_the_mirror_is_off(tmp_path, home, capsys):
    pipeline = make_pipeline(tmp_path, [Source()], tracking_uri=f"sqlite:///{tmp_path}/m.db")
    result = SequentialRunner().run(pipeline)  # home: GRISTMILL_MLFLOW_MIRROR=off
    capsys.readouterr()
    _print_summary(result, pipeline)
    assert "  mlflow:    not mirrored (GRISTMILL_MLFLOW_MIRROR=off)" in \
        capsys.readouterr().err.splitlines()


@pytest.mark.unit
def test_mlflow_line_says_where_the_run_stands(tmp_path):
    from gristmill.orchestrator.run_summary import mlflow_line, write_mlflow_location

    run = "20261203-101500-abc123"
    assert mlflow_line(tmp_path, run, "off") == "not mirrored (GRISTMILL_MLFLOW_MIRROR=off)"
    assert mlflow_line(tmp_path, run, "async") == f"no MLflow journal for this run in {tmp_path}"
    (tmp_path / f"{run}.ready").write_text("{}")
    assert mlflow_line(tmp_path, run, "off").startswith("being mirrored in the background")
    (tmp_path / f"{run}.log").write_text("ConnectionError")
    assert mlflow_line(tmp_path, run, "async") == (
        f"not in MLflow yet: its replay failed (see {tmp_path / run}.log); `gristmill ui` "
        "retries it")
    write_mlflow_location(tmp_path, run, "7", "abc")
    assert mlflow_line(tmp_path, run, "async", "http://h:1") == \
        "http://h:1/#/experiments/7/runs/abc   (after `gristmill ui`)"


@pytest.mark.unit
def test_runs_graph_without_show_is_refused(tmp_path, home, capsys):
    from gristmill.orchestrator.cli import main

    assert main(["runs", "--graph", "--db", f"sqlite:///{tmp_path}/m.db"]) == 2
    assert "runs --graph: the graph is of one run." in capsys.readouterr().err
