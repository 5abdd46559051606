"""What a replay leaves in MLflow, all of it, against a golden dump.

The golden (``data/mlflow_replay_golden.json``) was written by the replay as it was before its
calls were batched (c9ced30: one ``set_tag`` per lineage note, notes and model-version tags
apart from the runs' ``log_batch``); batching the calls must not change one run, param,
metric point (with its step and timestamp), tag, status or artifact path. The journal has a
parent with pipeline params, a node with stepped metrics past MLflow's 1,000 entities and
150 params (past its 100 a call), a failed node, a canceled one and a Tuner with trial runs.
``GRISTMILL_WRITE_GOLDEN=1`` rewrites the golden (review its diff).
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import pytest

from gristmill.orchestrator.mlflow_replay import replay_file

pytestmark = pytest.mark.integration
GOLDEN = Path(__file__).parent / "data" / "mlflow_replay_golden.json"
T0 = 1_700_000_000.0


def _end(node: str, kind: str, state: str, at: float, **extra) -> dict:
    return {"op": "end_node", "node": node, "type": kind, "state": state, "seconds": 1.5,
            "execution_id": at, "error": extra.pop("error", None), "time": T0 + at,
            "metrics": extra.pop("metrics", {}), "parameters": extra.pop("parameters", {}),
            "inputs": extra.pop("inputs", {}), "outputs": extra.pop("outputs", {})}


def _journal(folder: Path, tracking: str) -> Path:
    return write_journal(folder, journal_events(folder, tracking))


def write_journal(folder: Path, events: list[dict]) -> Path:
    """``events`` as the journal ``r1.ready`` in ``folder``."""
    path = folder / "r1.ready"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def journal_events(folder: Path, tracking: str) -> list[dict]:
    """The golden journal's events (its Tuner's ``trials.json`` written into ``folder``)."""
    gen_out = {"examples": [{"id": 1, "type": "Widgets", "uri": "/data/widgets/1"}]}
    tuner_out = {"tuner_results": [{"id": 2, "type": "TunerResults", "uri": str(folder)}]}
    events = [
        {"op": "start_pipeline", "pipeline": "golden", "run_id": "r1", "tracking_uri": tracking,
         "params": {"epochs": 3, "rate": 0.1}, "root": "/root", "start": T0, "time": T0,
         "source": "gristmill run golden.py", "user": "ann"},
        {"op": "start_node", "node": "Gen", "type": "x.Gen", "execution_id": 1, "time": T0 + 1},
        {"op": "params", "node": "Gen", "params": {f"p{i:03d}": i for i in range(150)},
         "time": T0 + 1},
        *({"op": "metrics", "node": "Gen", "metrics": {"loss": 1 / step, "acc": step / 1200},
           "step": step, "time": T0 + 1 + step / 1000} for step in range(1, 601)),
        _end("Gen", "x.Gen", "COMPLETE", 3, metrics={"rows": 10, "final_loss": 0.01},
             parameters={"split": {"train": 2, "eval": 1}, "name": "g"}, outputs=gen_out),
        {"op": "start_node", "node": "Tuner", "type": "Tuner", "execution_id": 2,
         "time": T0 + 4},
        *({"op": "metrics", "node": "Tuner", "metrics": {f"trial_{n}/loss": 1 / (n + s)},
           "step": s, "time": T0 + 4 + s} for n in range(2) for s in (1, 2)),
        _end("Tuner", "Tuner", "COMPLETE", 7, metrics={"best": 0.5}, inputs=gen_out,
             outputs=tuner_out),
        {"op": "start_node", "node": "Bad", "type": "x.Bad", "execution_id": 3, "time": T0 + 8},
        _end("Bad", "x.Bad", "FAILED", 9, error="ZeroDivisionError: boom", inputs=gen_out),
        _end("After", "x.After", "CANCELED", 10),
        {"op": "end_pipeline", "status": "FAILED", "seconds": 10.0, "time": T0 + 10},
    ]
    (folder / "trials.json").write_text(json.dumps({"best_trial": 1, "trials": [
        {"number": 0, "state": "COMPLETE", "value": 0.5, "params": {"units": 8}},
        {"number": 1, "state": "COMPLETE", "value": 0.25, "params": {"units": 16}}]}))
    return events


def _walk(client, run_id: str, path: str | None = None) -> list[str]:
    found = []
    for item in client.list_artifacts(run_id, path):
        found += _walk(client, run_id, item.path) if item.is_dir else [item.path]
    return found


def _run(client, run) -> dict:
    history = {key: sorted((m.step, m.value, m.timestamp, m.model_id)
                           for m in client.get_metric_history(run.info.run_id, key))
               for key in run.data.metrics}
    return {"status": run.info.status, "start": run.info.start_time, "end": run.info.end_time,
            "params": run.data.params, "tags": run.data.tags, "metrics": history,
            "artifacts": sorted(_walk(client, run.info.run_id)),
            "inputs": sorted(repr((d.dataset.name, d.dataset.digest, sorted(
                (t.key, t.value) for t in d.tags))) for d in run.inputs.dataset_inputs)}


def mlflow_dump(tracking: str, hide: str) -> str:
    """Everything MLflow holds for the golden experiment, run ids replaced by run names."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("golden")
    runs = client.search_runs([experiment.experiment_id], run_view_type=3, max_results=1000)
    names = {r.info.run_id: r.info.run_name for r in runs}
    dump = {"experiment": {"tags": experiment.tags, "artifacts": experiment.artifact_location},
            "runs": {f"{r.info.run_name} < {names.get(r.data.tags.get('mlflow.parentRunId'))}":
                     _run(client, r) for r in runs}}
    text = json.dumps(dump, indent=1, sort_keys=True).replace(hide, "<tmp>")
    for run_id, name in names.items():
        text = text.replace(run_id, f"<{name}>")
    return re.sub(r"#/experiments/\d+/", "#/experiments/<id>/", text)


@pytest.mark.parametrize("writer", ["client", "direct"])
def test_a_replay_writes_exactly_what_the_unbatched_replay_wrote(tmp_path, writer, monkeypatch,
                                                                 caplog):
    # Both writers (MLflow's client; sqlite3 on a store at the known schema) match the golden.
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    use_writer(writer, tracking, monkeypatch)
    with caplog.at_level(logging.INFO, "gristmill.orchestrator.mlflow_replay"):
        replay_file(str(_journal(tmp_path, tracking)))
    assert ("written directly" in caplog.text) == (writer == "direct"), caplog.text
    dump = mlflow_dump(tracking, str(tmp_path))
    if os.environ.get("GRISTMILL_WRITE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(dump + "\n")
    assert json.loads(dump) == json.loads(GOLDEN.read_text())


def use_writer(writer: str, tracking: str, monkeypatch) -> None:
    """Make the next replays into ``tracking`` use ``writer``: ``direct`` builds the store
    first (as a pipeline run does), ``client`` makes the direct writer decline."""
    from gristmill.components.framework.tracking_store import ensure_tracking_store
    from gristmill.orchestrator.mlflow import sqlite_writer

    if writer == "direct":
        ensure_tracking_store(tracking)
    else:
        monkeypatch.setattr(sqlite_writer, "direct_refusal", lambda uri, retry: "a test said so")
