"""Fixtures of the orchestrator tests: an isolated GRISTMILL_HOME and store helpers."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    """Each test gets its own GRISTMILL_HOME; the MLflow mirror is off unless a test sets it."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("GRISTMILL_HOME", str(path))
    monkeypatch.setenv("GRISTMILL_MLFLOW_MIRROR", "off")
    monkeypatch.delenv("GRISTMILL_METADATA_URL", raising=False)
    return path


@pytest.fixture
def metadata_url(tmp_path) -> str:
    """The SQLite URL that ``orchestrator_fakes.make_pipeline`` uses."""
    return f"sqlite:///{tmp_path / 'metadata.db'}"


@pytest.fixture
def open_test_store(metadata_url):
    """Open (and close) the test pipeline's store: ``with open_test_store() as store``."""
    from gristmill.metadata.store import open_store

    return lambda: open_store(metadata_url)
