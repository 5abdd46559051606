"""Artifact roots: plain paths and file:// URIs work (object-store roots:
tests/orchestrator/test_object_store.py)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from gristmill.orchestrator import SequentialRunner

HELLO = Path(__file__).resolve().parents[2] / "pipelines" / "hello" / "pipeline.py"
pytestmark = pytest.mark.integration


def _hello():
    spec = importlib.util.spec_from_file_location("hello_pipeline_roots", HELLO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_file_uri_root_holds_every_artifact(tmp_path, monkeypatch):
    monkeypatch.setenv("GRISTMILL_HOME", str(tmp_path / "home"))
    shared = tmp_path / "shared-mount"
    pipeline = _hello().create_pipeline(rows=200, root=f"file://{shared}",
                                        metadata_url=str(tmp_path / "m.db"), tracking_uri="")
    result = SequentialRunner().run(pipeline)
    assert result.status == "COMPLETE"
    assert result.root == str(shared)
    uris = [a.uri for c in result.components for v in c.outputs.values() for a in v]
    assert len(uris) == 3
    assert all(u.startswith(str(shared)) and os.path.isdir(u) for u in uris)
