"""When the Pusher's direct registry writer may not or will not write, MLflow's client does,
after everything the direct writer did is undone; and the direct path imports no MLflow."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gristmill.components.pusher import model_registry
from gristmill.components.pusher.registry_sqlite import RegistryWriter
from gristmill.metadata import mlflow_rules as rules
from gristmill.metadata.mlflow_direct import DirectWriteRefused, store_refusal
from tests.components.pusher.test_registry_parity import NAME, _bundle, _early_run, _tags

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def _store(tmp_path: Path) -> tuple[str, str]:
    from gristmill.components.framework.tracking_store import ensure_tracking_store

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ensure_tracking_store(tracking)
    return tracking, _early_run(tmp_path, tracking, "r1", "Trainer")


def _register(tracking: str, bundle: str, run_id: str | None, caplog) -> int:
    caplog.clear()
    with caplog.at_level(logging.INFO, "gristmill.components.pusher.model_registry"):
        return model_registry.register_model_version(tracking, NAME, bundle, tags=_tags("r1"),
                                                     alias="champion", run_id=run_id)


def _watch_client(monkeypatch, tracking: str, run_dir: Path) -> list:
    """Record, when the client starts, what the direct writer left behind."""
    seen = []
    original = model_registry._register_with_client

    def watched(*args, **kwargs):
        db = sqlite3.connect(tracking.removeprefix("sqlite:///"))
        seen.append((db.execute("SELECT count(*) FROM registered_models").fetchone()[0],
                     db.execute("SELECT count(*) FROM model_versions").fetchone()[0],
                     (run_dir / "pushed_model").exists()))
        return original(*args, **kwargs)

    monkeypatch.setattr(model_registry, "_register_with_client", watched)
    return seen


def _run_dir(tracking: str, run_id: str) -> Path:
    db = sqlite3.connect(tracking.removeprefix("sqlite:///"))
    return Path(db.execute("SELECT artifact_uri FROM runs WHERE run_uuid = ?",
                           (run_id,)).fetchone()[0])


@pytest.mark.parametrize("failure", ["refused", "sqlite-error"])
def test_a_failure_midway_rolls_back_removes_copies_and_uses_the_client(
        tmp_path, monkeypatch, caplog, failure):
    tracking, run_id = _store(tmp_path)
    error = DirectWriteRefused("a test refuses") if failure == "refused" else \
        sqlite3.OperationalError("disk I/O error")

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(RegistryWriter, "set_alias", fail)  # after the copy and the rows
    seen = _watch_client(monkeypatch, tracking, _run_dir(tracking, run_id))
    assert _register(tracking, _bundle(tmp_path, "b1"), run_id, caplog) == 1
    assert seen == [(0, 0, False)]  # nothing of the direct attempt left for the client
    assert f"registered with MLflow's client: the direct registry writer refused: {error}" \
        in caplog.text
    from mlflow import MlflowClient

    assert MlflowClient(tracking).get_model_version_by_alias(NAME, "champion").version == 1


def test_a_registry_uri_setting_sends_the_registration_to_the_client(tmp_path, monkeypatch,
                                                                       caplog):
    tracking, run_id = _store(tmp_path)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", tracking)
    assert _register(tracking, _bundle(tmp_path, "b1"), run_id, caplog) == 1
    assert "registered with MLflow's client: an MLflow environment variable" in caplog.text


def test_artifacts_already_under_the_run_go_to_the_client(tmp_path, monkeypatch, caplog):
    tracking, run_id = _store(tmp_path)
    assert _register(tracking, _bundle(tmp_path, "b1"), run_id, caplog) == 1
    assert "written directly" in caplog.text
    assert _register(tracking, _bundle(tmp_path, "b2"), run_id, caplog) == 2  # same run
    assert "registered with MLflow's client: the direct registry writer refused: the " \
           "run's artifacts already hold pushed_model" in caplog.text


@pytest.mark.parametrize(("uri", "reason"), [
    ("postgresql://u@h/db", "not a local SQLite"),
    ("sqlite:////nowhere/mlflow.db", "missing or not at schema revision")])
def test_other_stores_are_the_clients(uri, reason):
    assert reason in store_refusal(uri)


def test_a_reserved_alias_is_refused_before_anything_is_written(tmp_path):
    tracking, _ = _store(tmp_path)
    writer = RegistryWriter(tmp_path / "mlflow.db")
    with pytest.raises(DirectWriteRefused, match="reserved"):
        writer.set_alias(NAME, "latest", 1)
    writer.abandon()


SCRIPT = """
import json, sys
from gristmill.components.framework.tracking_store import ensure_tracking_store
from gristmill.components.pusher.model_registry import register_model_version
from gristmill.orchestrator.mlflow_mirror import open_runs_early
from pathlib import Path
folder, bundle = Path(sys.argv[1]), sys.argv[2]
tracking = f"sqlite:///{folder / 'mlflow.db'}"
ensure_tracking_store(tracking)
start = {"op": "start_pipeline", "pipeline": "p", "run_id": "r1", "tracking_uri": tracking,
         "params": {}, "root": "/root", "start": 1.7e9, "time": 1.7e9}
run_id = open_runs_early(start, "Trainer", folder, {})["nodes"]["Trainer"]
version = register_model_version(tracking, "m", bundle, tags={"t": "1"}, run_id=run_id)
print(json.dumps([version, sorted(m for m in sys.modules
                             if m.split(".")[0] in ("mlflow", "sqlalchemy", "alembic"))]))
"""


def test_the_direct_path_imports_no_mlflow(tmp_path):
    """The mirror's early runs and the registration, as a Pusher run makes them."""
    bundle = _bundle(tmp_path, "b1")
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), bundle], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out.splitlines()[-1]) == [1, []]


def _accepts(validate, *args) -> bool:
    try:
        validate(*args)
        return True
    except Exception:
        return False


@pytest.mark.parametrize("value", ["penguin", "a b.c-d_e", "", " ", "a/b", "a:b", "a//b",
                                   "./x", "..", "x/..", "é", "latest", "v1", "V12", "v1a",
                                   "champion", "a.b", "x" * 256, "tab\tx", "k=v"])
def test_registry_rules_match_mlflows_own(value):
    from mlflow.utils.validation import (
        _validate_model_alias_name,
        _validate_model_alias_name_reserved,
        _validate_model_name,
        _validate_model_version_tag,
        _validate_registered_model_tag,
    )

    assert _accepts(_validate_model_name, value) == \
        (rules.registered_model_name_problem(value) is None), value
    alias_ok = _accepts(_validate_model_alias_name, value) and \
        _accepts(_validate_model_alias_name_reserved, value)
    assert alias_ok == (rules.alias_problem(value) is None), value
    for validate in (_validate_model_version_tag, _validate_registered_model_tag):
        for key, tag_value in ((value, "v"), ("k", value), (value[:250], "x" * 100_001)):
            assert _accepts(validate, key, tag_value) == \
                (rules.registry_tag_problem("t", key, tag_value) is None), (key, validate)
