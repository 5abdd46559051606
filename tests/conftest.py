"""Shared fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture
def store(tmp_path):
    """A real metadata store on a fresh SQLite file under ``tmp_path``."""
    from gristmill.metadata.store import open_store

    with open_store(str(tmp_path / "metadata.db")) as opened:
        yield opened
