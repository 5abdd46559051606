"""The direct SQLite writer writes exactly what MLflow's client writes (no drift).

One rich journal (the golden journal of ``test_mlflow_replay_content``: parent params, stepped
metrics past MLflow's 1,000 entities, 150 params, failed and canceled nodes, Tuner trials;
plus runs opened early, Examples datasets, artifacts, a logged model with metrics, a
registered model version) is replayed once through each writer into two fresh stores. Both
are read back through ``MlflowClient`` (runs, params, full metric histories, tags, status,
times, dataset inputs, logged models, model versions, artifacts with their bytes) and
row by row with sqlite3; after mapping ids (and "now" timestamps) they must be equal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
from pathlib import Path

import pytest

from gristmill.orchestrator.mlflow_replay import replay_file
from tests.orchestrator.test_mlflow_replay_content import (
    T0,
    _end,
    journal_events,
    use_writer,
    write_journal,
)

pytestmark = pytest.mark.integration
MODEL_NAME = "golden-model"
_NOW_MS = re.compile(r"\b1[7-9]\d{11}\b")  # a timestamp of the test's day, not of T0


def _examples(folder: Path) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "examples" / "Split-train").mkdir(parents=True)
    pq.write_table(pa.table({"x": [1.0, 2.0], "island": ["a", "b"]}),
                   folder / "examples" / "Split-train" / "data.parquet")
    return {"id": 11, "type": "Examples", "uri": str(folder / "examples"), "key": "examples",
            "fingerprint": "sha256:" + "ab" * 32, "producer": "Gen2",
            "row_counts": {"train": 2}}


def _files(folder: Path) -> tuple[Path, Path, Path]:
    """A file, a folder and a model folder kept beside the journal (``r1.files``)."""
    kept = folder / "r1.files"
    (kept / "plots" / "deep").mkdir(parents=True)
    (kept / "plots" / "curve.txt").write_text("curve")
    (kept / "plots" / "deep" / "more.bin").write_bytes(bytes(range(256)))
    (kept / "model" / "variables").mkdir(parents=True)
    (kept / "model" / "MLmodel").write_text("flavors: {}\n")
    (kept / "model" / "variables" / "weights.bin").write_bytes(b"\x00\x01" * 100)
    (kept / "report.html").write_text("<p>é</p>")
    return kept / "report.html", kept / "plots", kept / "model"


def rich_events(folder: Path, tracking: str) -> list[dict]:
    """The golden journal plus early runs, datasets, artifacts, a model and its version."""
    from mlflow import MlflowClient

    from gristmill.orchestrator.mlflow_mirror import open_runs_early

    events = journal_events(folder, tracking)
    early = open_runs_early(events[0], "Trainer", folder, {})
    client = MlflowClient(tracking)
    client.create_registered_model(MODEL_NAME)
    client.create_model_version(MODEL_NAME, str(folder / "served"),
                                run_id=early["nodes"]["Trainer"])
    examples = _examples(folder)
    report, plots, model_dir = _files(folder)
    model_ref = {"id": 12, "type": "Model", "uri": str(model_dir)}
    evaluation = folder / "evaluation"
    evaluation.mkdir()
    (evaluation / "metrics.json").write_text(json.dumps({"slices": [
        {"features": [["island", "a"]], "candidate": {"metrics": {"accuracy": 0.75}}}]}))
    rich = [
        {"op": "early_runs", **early},
        {"op": "start_node", "node": "Gen2", "type": "x.Gen2", "execution_id": 4,
         "time": T0 + 3.1},
        _end("Gen2", "x.Gen2", "COMPLETE", 3.2, outputs={"examples": [examples]}),
        {"op": "start_node", "node": "Trainer", "type": "Trainer", "execution_id": 5,
         "time": T0 + 3.3},
        *({"op": "metrics", "node": "Trainer", "metrics": {"loss": 1 / s, "nan": float("nan"),
                                                           "big": float("inf")},
           "step": s, "time": T0 + 3.3 + s / 100} for s in range(1, 4)),
        *({"op": "metrics", "node": "Trainer", "metrics": {"late": float(s)}, "step": s,
           "time": T0 + 3.4} for s in (5, 2)),  # latest_metrics keeps step 5
        {"op": "artifact", "node": "Trainer", "path": str(report), "name": "report.html",
         "artifact_path": "reports"},
        {"op": "artifact", "node": "Trainer", "path": str(plots), "name": "plots",
         "artifact_path": "plots"},
        {"op": "model", "node": "Trainer", "path": str(model_dir), "name": "model"},
        _end("Trainer", "Trainer", "COMPLETE", 3.6, metrics={"final_loss": 0.33},
             parameters={"epochs": 3}, inputs={"examples": [examples]},
             outputs={"model": [model_ref]}),
        _end("Evaluator", "Evaluator", "COMPLETE", 3.7, metrics={"eval_accuracy": 0.8},
             inputs={"model": [model_ref], "examples": [examples]},
             outputs={"evaluation": [{"id": 13, "type": "ModelEvaluation",
                                      "uri": str(evaluation)}]}),
        _end("Pusher", "Pusher", "COMPLETE", 3.8, inputs={"model": [model_ref]},
             outputs={"pushed_model": [{"id": 14, "type": "PushedModel", "uri": "/srv",
                                        "model_version": {"name": MODEL_NAME, "version": "1",
                                                          "alias": "champion",
                                                          "model_id": 12}}]}),
    ]
    gen_end = next(i for i, e in enumerate(events) if e["op"] == "end_node")
    return [events[0], rich[0], *events[1:gen_end + 1], *rich[1:], *events[gen_end + 1:]]


def _replay_into(folder: Path, writer: str, monkeypatch, caplog, rich: bool = True) -> str:
    folder.mkdir()
    tracking = f"sqlite:///{folder / 'mlflow.db'}"
    use_writer(writer, tracking, monkeypatch)
    events = (rich_events if rich else journal_events)(folder, tracking)
    with caplog.at_level(logging.INFO, "gristmill.orchestrator.mlflow_replay"):
        caplog.clear()
        replay_file(str(write_journal(folder, events)))
    assert ("written directly" in caplog.text) == (writer == "direct"), caplog.text
    monkeypatch.undo()
    return tracking


def _ids(tracking: str) -> dict[str, str]:
    """Every generated id in the store -> a name that is the same in both stores."""
    db = sqlite3.connect(tracking.removeprefix("sqlite:///"))
    names = dict(db.execute("SELECT run_uuid, 'run:' || name FROM runs"))
    names.update(db.execute("SELECT model_id, 'model:' || name FROM logged_models"))
    names.update(db.execute("SELECT dataset_uuid, 'dataset:' || name FROM datasets"))
    for uuid, source, destination in db.execute(
            "SELECT input_uuid, source_id, destination_id FROM inputs"):
        names[uuid] = f"input:{names.get(source, source)}>{names.get(destination, destination)}"
    return names


def _masked(value, ids: dict[str, str], folder: str) -> str:
    text = json.dumps(value, sort_keys=True, default=str).replace(folder, "<tmp>")
    for raw, name in sorted(ids.items(), key=lambda item: -len(item[0])):
        text = text.replace(raw, f"<{name}>")
    return _NOW_MS.sub("-1", text)  # "now" (valid JSON inside strings and out)


def _content(path: Path) -> str:
    """A text file's text (ids in it are mapped later), other files' SHA-256."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return hashlib.sha256(data).hexdigest()


def _artifacts(client, run_id: str, root: str, path: str | None = None) -> dict[str, str]:
    found = {}
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            found.update(_artifacts(client, run_id, root, item.path))
        else:
            found[item.path] = _content(Path(root, item.path))
    return found


def _run(client, run) -> dict:
    info = run.info
    return {
        "info": [info.run_name, info.status, info.start_time, info.end_time, info.user_id,
                 info.lifecycle_stage, info.artifact_uri],
        "params": run.data.params, "tags": run.data.tags, "latest": run.data.metrics,
        "history": {key: [(m.step, m.value, m.timestamp, m.model_id) for m in
                          client.get_metric_history(info.run_id, key)]
                    for key in run.data.metrics},
        "inputs": sorted(json.dumps([d.dataset.name, d.dataset.digest, d.dataset.source_type,
                                     d.dataset.source, d.dataset.schema, d.dataset.profile,
                                     sorted((t.key, t.value) for t in d.tags)]) for d in
                         run.inputs.dataset_inputs),
        "outputs": [(o.model_id, o.step) for o in (run.outputs.model_outputs if run.outputs
                                                   else [])],
        "artifacts": _artifacts(client, info.run_id, info.artifact_uri)}


def client_view(tracking: str) -> dict:
    """What MLflow's client reads back from the store (ids unmapped)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("golden")
    runs = client.search_runs([experiment.experiment_id], run_view_type=3, max_results=1000)
    models = client.search_logged_models([experiment.experiment_id])
    versions = client.search_model_versions(f"name = '{MODEL_NAME}'")
    return {
        "experiment": [experiment.tags, experiment.artifact_location, experiment.lifecycle_stage],
        "runs": {r.info.run_id: _run(client, r) for r in runs},
        "models": {m.model_id: [
            m.name, m.status, m.model_type, m.source_run_id, m.tags, m.params,
            m.artifact_location,
            sorted((x.key, x.value, x.step, x.timestamp, x.run_id) for x in m.metrics or []),
            sorted(f.path for f in client.list_logged_model_artifacts(m.model_id))]
            for m in models},
        "versions": [[v.version, v.run_id, v.description, v.tags, v.status, v.source]
                     for v in versions]}


def table_view(tracking: str) -> dict[str, list[str]]:
    """Every row of every table, read with sqlite3 (columns MLflow's client never shows)."""
    db = sqlite3.connect(tracking.removeprefix("sqlite:///"))
    tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: [list(row) for row in db.execute(f'SELECT * FROM "{t}"')] for t in tables}


def _same(view_a, view_b, ids_a, ids_b, folder_a, folder_b) -> None:
    a, b = (json.loads(_masked(v, i, f)) for v, i, f in ((view_a, ids_a, folder_a),
                                                         (view_b, ids_b, folder_b)))
    if isinstance(a, dict) and all(isinstance(v, list) for v in a.values()):
        a = {k: sorted(map(json.dumps, v)) for k, v in a.items()}
        b = {k: sorted(map(json.dumps, v)) for k, v in b.items()}
    for key in sorted(set(a) | set(b)):
        assert a.get(key) == b.get(key), key


@pytest.mark.parametrize("rich", [True, False], ids=["rich", "golden-fresh-store"])
def test_the_direct_writer_writes_what_the_client_writes(tmp_path, monkeypatch, caplog, rich):
    # golden-fresh-store: nothing opened the store with MLflow before the replay, so the
    # direct writer also adds MLflow's Default experiment 0 (read before MLflow opens it).
    stores = {w: _replay_into(tmp_path / w, w, monkeypatch, caplog, rich)
              for w in ("client", "direct")}
    ids = {w: _ids(t) for w, t in stores.items()}
    folders = {w: str(tmp_path / w) for w in stores}
    args = (ids["client"], ids["direct"], folders["client"], folders["direct"])
    tables = {w: table_view(t) for w, t in stores.items()}
    assert [row[:2] for row in tables["direct"]["experiments"]] == [[0, "Default"],
                                                                    [1, "golden"]]
    _same(tables["client"], tables["direct"], *args)
    seen = client_view(stores["client"])
    assert len(seen["runs"]) == (11 if rich else 7)
    assert len(seen["models"]) == rich and bool(seen["versions"]) == rich
    _same(seen, client_view(stores["direct"]), *args)


def test_a_direct_written_store_reads_as_mlflow_reads_stores(tmp_path, monkeypatch, caplog):
    from mlflow import MlflowClient

    tracking = _replay_into(tmp_path / "direct", "direct", monkeypatch, caplog)
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("golden")
    runs = client.search_runs([experiment.experiment_id],
                              filter_string="tags.`gristmill.node` = 'Trainer'")
    (model,) = client.search_logged_models([experiment.experiment_id])
    assert client.get_logged_model(model.model_id).source_run_id == runs[0].info.run_id
    assert runs[0].data.metrics["loss"] == pytest.approx(1 / 3)
    assert client.get_model_version(MODEL_NAME, "1").tags["gristmill.source_mlflow_run_id"] \
        == runs[0].info.run_id
