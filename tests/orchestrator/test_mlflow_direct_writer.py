"""When the replay writes MLflow's SQLite schema itself, and when it leaves it to MLflow.

The direct writer (:mod:`gristmill.orchestrator.mlflow.sqlite_writer`) is used only for a
local SQLite store at the schema revision it was written against, on a journal's first
attempt; otherwise, and whenever it refuses something mid-way, the replay uses MLflow's
client and the log says why. The replay process on the direct path imports no MLflow.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import subprocess
import sys

import pytest

from gristmill.metadata import mlflow_direct
from gristmill.metadata import mlflow_rules as rules
from gristmill.orchestrator.mlflow import sqlite_writer
from gristmill.orchestrator.mlflow_replay import replay_file
from tests.orchestrator.test_mlflow_replay_content import GOLDEN, _journal, mlflow_dump

pytestmark = pytest.mark.integration


def _built(tmp_path) -> str:
    from gristmill.components.framework.tracking_store import ensure_tracking_store

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ensure_tracking_store(tracking)
    return tracking


@pytest.mark.parametrize("uri, reason", [
    ("postgresql://u@db/mlflow", "not a local SQLite"), ("http://tracking:5000", "not a local"),
    ("sqlite:////nowhere/mlflow.db", "not at schema revision")])
def test_other_stores_are_left_to_mlflows_client(uri, reason):
    assert reason in sqlite_writer.direct_refusal(uri, retry=False)


def test_a_retry_is_left_to_mlflows_client(tmp_path):
    assert "retry" in sqlite_writer.direct_refusal(_built(tmp_path), retry=True)
    assert sqlite_writer.direct_refusal(_built(tmp_path), retry=False) is None


@pytest.mark.parametrize("name", rules.CLIENT_ONLY_ENVIRONMENT)
def test_mlflow_settings_that_change_the_clients_writes_leave_them_to_it(tmp_path, monkeypatch,
                                                                         name):
    tracking = _built(tmp_path)
    monkeypatch.setenv(name, "x")
    assert "environment variable" in sqlite_writer.direct_refusal(tracking, retry=False)


def test_another_mlflow_schema_replays_through_the_client_and_says_so(tmp_path, monkeypatch,
                                                                     caplog):
    # An MLflow whose head is not the revision the direct writer knows: the client writes.
    tracking = _built(tmp_path)
    monkeypatch.setattr(mlflow_direct, "SCHEMA_REVISION", "0123456789ab")
    with caplog.at_level(logging.INFO, "gristmill.orchestrator.mlflow_replay"):
        replay_file(str(_journal(tmp_path, tracking)))
    assert "written with MLflow's client: the installed MLflow's schema is not revision " \
           "0123456789ab" in caplog.text
    assert json.loads(mlflow_dump(tracking, str(tmp_path))) == json.loads(GOLDEN.read_text())


def test_a_store_at_another_revision_is_not_written_directly(tmp_path, caplog):
    tracking = _built(tmp_path)
    db = sqlite3.connect(tmp_path / "mlflow.db")
    db.execute("UPDATE alembic_version SET version_num = '0123456789ab'")
    db.commit()
    db.close()
    with caplog.at_level(logging.INFO, "gristmill.orchestrator.mlflow_replay"), \
            contextlib.suppress(Exception):  # a fresh MLflow process refuses the revision
        replay_file(str(_journal(tmp_path, tracking)))
    assert "written with MLflow's client: the database is missing or not at schema " \
           "revision" in caplog.text


def test_a_refusal_mid_way_leaves_nothing_and_the_client_writes_it_all(tmp_path, monkeypatch,
                                                                       caplog):
    tracking = _built(tmp_path)
    written = []
    original = sqlite_writer.SqliteWriter.log_text

    def refuse_late(self, run_id, text, artifact_file):
        original(self, run_id, text, artifact_file)
        written.append(run_id)
        if artifact_file == "dag.html":  # the last write before the commit
            raise sqlite_writer.DirectWriteRefused("a test refuses")

    monkeypatch.setattr(sqlite_writer.SqliteWriter, "log_text", refuse_late)
    with caplog.at_level(logging.INFO, "gristmill.orchestrator.mlflow_replay"):
        replay_file(str(_journal(tmp_path, tracking)))
    assert "the direct writer refused: a test refuses" in caplog.text
    assert json.loads(mlflow_dump(tracking, str(tmp_path))) == json.loads(GOLDEN.read_text())
    left = {p.name for p in (tmp_path / "mlartifacts" / "golden").iterdir()}
    assert written and not left & set(written)  # the direct attempt's folders are gone


def test_the_direct_replay_process_imports_no_mlflow(tmp_path):
    tracking = _built(tmp_path)
    journal = _journal(tmp_path, tracking)
    code = ("import json, sys\n"
            "from gristmill.orchestrator.mlflow_replay import main\n"
            f"assert main([{str(journal)!r}]) == 0\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'mlflow', 'sqlalchemy', 'alembic', 'pandas'})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert json.loads(done.stdout.splitlines()[-1]) == [], done.stderr
    assert journal.with_suffix(".done").exists()
    assert json.loads(mlflow_dump(tracking, str(tmp_path))) == json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("name", ["loss", "a/b", "eval_acc/slice/island:Biscoe", "x y.z-1",
                                  "acc@5", "f1 (macro)", "a//b", "/abs", "../up", "a/./b",
                                  ".", "", "trail/", "tab\tx", "new\n", "é", "k=v"])
def test_name_rules_match_mlflows_own(name):
    from mlflow.utils.validation import _validate_metric_name, _validate_tag_name

    for validate in (_validate_metric_name, _validate_tag_name):
        try:
            validate(name)
            accepted = True
        except Exception:
            accepted = False
        assert accepted == (rules.name_problem(name) is None), (name, validate.__name__)
