"""MLflow's SQLite tracking database is created once, even by racing processes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gristmill.components.framework.tracking_store import needs_creation, sqlite_path

pytestmark = pytest.mark.integration


def test_racing_processes_all_find_a_complete_schema(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert needs_creation(uri)
    code = ("import sys; "
            "from gristmill.components.framework.tracking_store import ensure_tracking_store;"
            "ensure_tracking_store(sys.argv[1]);"
            "from mlflow import MlflowClient;"
            "c = MlflowClient(sys.argv[1]); e = c.get_experiment_by_name('Default');"
            "print(e.experiment_id)")
    procs = [subprocess.Popen([sys.executable, "-c", code, uri], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=240) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0, 0], [r[1][-500:] for r in results]
    assert {r[0].strip() for r in results} == {"0"}
    assert not needs_creation(uri)


@pytest.mark.unit
def test_only_sqlite_uris_have_a_file():
    assert sqlite_path("sqlite:////a/b/mlflow.db").as_posix() == "/a/b/mlflow.db"
    assert sqlite_path("postgresql://u@h/db") is None
    assert not needs_creation("http://127.0.0.1:5000")
