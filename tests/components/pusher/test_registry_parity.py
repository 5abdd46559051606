"""The Pusher's direct registry writer writes exactly what MLflow's client writes.

The same registrations go through each path into two fresh stores, each holding the runs
the mirror opens early (:func:`~gristmill.orchestrator.mlflow_mirror.open_runs_early`): a
first version from a run (creating the registered model and its alias), a second from
another run moving the alias, a third without a run (source: the local bundle path). Both
stores are read back through ``MlflowClient`` and row by row with sqlite3; after mapping
ids and "now" timestamps (their ordering compared separately) they must be equal. A store
MLflow never opened is covered too (MLflow's ``Default`` experiment appears). Deliberate
mutations of the writer must make the comparison fail.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gristmill.components.framework.tracking_store import ensure_tracking_store
from gristmill.components.pusher import model_registry, registry_sqlite
from gristmill.metadata import mlflow_direct
from tests.orchestrator.test_mlflow_replay_content import journal_events
from tests.orchestrator.test_mlflow_replay_parity import _artifacts, _ids, _same, table_view

pytestmark = pytest.mark.integration
NAME = "penguin-model"


def _bundle(folder: Path, label: str, mlflow_model: bool = True) -> str:
    model = folder / label / ("mlflow_model" if mlflow_model else "")
    (model / "artifacts").mkdir(parents=True)
    (model / "MLmodel").write_text(f"flavors: {{}}\n# {label}\n")
    (model / "artifacts" / "weights.bin").write_bytes(bytes(range(256)) * 3)
    return str(folder / label)


def _tags(label: str) -> dict[str, str]:
    return {"gristmill.pipeline": "penguin", "gristmill.run_id": label,
            "gristmill.model_artifact_id": "7", "gristmill.pushed_destination": f"/srv/{label}"}


def _early_run(folder: Path, tracking: str, run: str, node: str) -> str:
    from gristmill.orchestrator.mlflow_mirror import open_runs_early

    start = {**journal_events(folder, tracking)[0], "run_id": run}
    return open_runs_early(start, node, folder, {})["nodes"][node]


def _register(folder: Path, writer: str, monkeypatch, caplog, early: bool) -> str:
    """The registrations into a fresh store through ``writer`` (client or direct)."""
    folder.mkdir()
    tracking = f"sqlite:///{folder / 'mlflow.db'}"
    ensure_tracking_store(tracking)
    calls = []
    if early:
        first, second = (_early_run(folder, tracking, r, n) for r, n in
                         (("r1", "Trainer"), ("r2", "Retrainer")))
        calls += [(_bundle(folder, "b1"), "r1", first), (_bundle(folder, "b2"), "r2", second)]
    calls.append((_bundle(folder, "b3", mlflow_model=False), "r3", None))
    if writer == "client":
        monkeypatch.setattr(mlflow_direct, "store_refusal", lambda uri: "a test said so")
    with caplog.at_level(logging.INFO, "gristmill.components.pusher.model_registry"):
        for number, (bundle, label, run_id) in enumerate(calls, 1):
            caplog.clear()
            assert model_registry.register_model_version(
                tracking, NAME, bundle, tags=_tags(label), alias="champion",
                run_id=run_id) == number
            assert ("written directly" in caplog.text) == (writer == "direct"), caplog.text
    monkeypatch.undo()
    return tracking


def client_view(tracking: str) -> dict:
    """What MLflow's client reads back: the registered model, its versions (every field;
    timestamps as their ordering), the alias, and every run's artifacts."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking)
    model = client.get_registered_model(NAME)
    versions = sorted(client.search_model_versions(f"name = '{NAME}'"),
                      key=lambda v: int(v.version))
    times = [v.creation_timestamp for v in versions]
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return {
        "model": [model.name, model.description, model.tags, model.aliases,
                  sorted((v.version, v.current_stage) for v in model.latest_versions)],
        "times": [model.creation_timestamp <= times[0], model.last_updated_timestamp == times[-1],
                  times == sorted(times),
                  [v.last_updated_timestamp == v.creation_timestamp for v in versions]],
        "versions": [[v.version, v.source, v.run_id, v.run_link,
                      client.get_model_version_download_uri(NAME, v.version), v.status,
                      v.status_message, v.current_stage, v.tags, v.model_id, v.user_id,
                      v.description, v.aliases, getattr(v, "workspace", None)]
                     for v in versions],
        "champion": client.get_model_version_by_alias(NAME, "champion").version,
        "artifacts": {r.info.run_id: _artifacts(client, r.info.run_id, r.info.artifact_uri)
                      for r in runs}}


def compare(tmp_path: Path, monkeypatch, caplog, early: bool = True) -> None:
    """Register both ways; assert both stores read back the same."""
    stores = {w: _register(tmp_path / w, w, monkeypatch, caplog, early)
              for w in ("client", "direct")}
    ids = {w: _ids(t) for w, t in stores.items()}
    args = (ids["client"], ids["direct"], str(tmp_path / "client"), str(tmp_path / "direct"))
    _same(table_view(stores["client"]), table_view(stores["direct"]), *args)
    seen = client_view(stores["client"])
    assert seen["times"] == [True, True, True, [True] * (3 if early else 1)]
    _same(seen, client_view(stores["direct"]), *args)


@pytest.mark.parametrize("early", [True, False], ids=["early-runs", "fresh-store"])
def test_the_direct_registry_writer_writes_what_the_client_writes(tmp_path, monkeypatch,
                                                                   caplog, early):
    compare(tmp_path, monkeypatch, caplog, early)


def _skip_touch(original):
    def sql(self, statement, parameters=()):
        if statement.startswith("UPDATE registered_models"):
            return None
        return original(self, statement, parameters)
    return sql


MUTATIONS = {
    "stage": lambda mp: mp.setattr(registry_sqlite, "STAGE_NONE", "NONE"),
    "no-last-updated": lambda mp: mp.setattr(registry_sqlite.RegistryWriter, "sql",
                                             _skip_touch(registry_sqlite.RegistryWriter.sql)),
    "no-artifact-copy": lambda mp: mp.setattr(registry_sqlite, "copy_tree", lambda s, d: None),
    "status": lambda mp: mp.setattr(
        registry_sqlite, "STATUS_READY", "PENDING_REGISTRATION"),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_mutated_writer_fails_the_parity_check(tmp_path, monkeypatch, caplog, mutation):
    with pytest.MonkeyPatch.context() as mutant:
        MUTATIONS[mutation](mutant)
        with pytest.raises(AssertionError):
            compare(tmp_path, monkeypatch, caplog)
