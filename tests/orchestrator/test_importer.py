"""Importer: an external path becomes a typed LIVE artifact, reused while unchanged."""

from __future__ import annotations

import pytest

from gristmill.components import InputArtifact, component
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.standard_artifacts import Schema
from gristmill.metadata.store import open_store
from gristmill.orchestrator import Importer, Pipeline, SequentialRunner
from gristmill.orchestrator.cli_commands import _print_explain

pytestmark = pytest.mark.integration


@component
def ReadSchema(schema: InputArtifact[Schema]) -> dict:
    with open(f"{schema.uri}/schema.yaml") as f:
        return {"lines": float(len(f.read().splitlines()))}


def _pipeline(tmp_path, source, reimport=False):
    importer = Importer(source_uri=str(source), artifact_type=Schema,
                        reimport=reimport).with_id("curated_schema")
    reader = ReadSchema(schema=importer.outputs["result"])
    return Pipeline("imports", [importer, reader], root=str(tmp_path / "root"),
                    metadata_url=str(tmp_path / "m.db"), tracking_uri="")


def test_import_then_reuse_then_reimport_after_an_edit(tmp_path, capsys):
    source = tmp_path / "schema"
    source.mkdir()
    (source / "schema.yaml").write_text("features:\n  a: int\n")
    first = SequentialRunner().run(_pipeline(tmp_path, source))
    assert first.status == "COMPLETE"
    imported = first.node("curated_schema").outputs["result"][0]
    assert imported.uri == str(source) and imported.fingerprint
    assert first.node("ReadSchema").metrics == {"lines": 2.0}

    second = SequentialRunner().run(_pipeline(tmp_path, source))
    assert [c.state.value for c in second.components] == ["CACHED", "CACHED"]
    assert second.node("curated_schema").outputs["result"][0].id == imported.id

    (source / "schema.yaml").write_text("features:\n  a: int\n  b: float\n")
    assert _print_explain(_pipeline(tmp_path, source), as_json=False, enable_cache=True) == 0
    assert "new or changed content" in capsys.readouterr().out
    third = SequentialRunner().run(_pipeline(tmp_path, source))
    assert [c.state.value for c in third.components] == ["COMPLETE", "COMPLETE"]
    assert third.node("ReadSchema").metrics == {"lines": 3.0}
    with open_store(str(tmp_path / "m.db")) as store:
        schemas = store.list_artifacts(type_name="Schema")
        assert len(schemas) == 2  # one per distinct content, both pointing at the source


def test_missing_source_and_wrong_type_are_clear_errors(tmp_path):
    result = SequentialRunner().run(_pipeline(tmp_path, tmp_path / "nowhere"))
    assert result.status == "FAILED"
    assert "does not exist" in result.node("curated_schema").error
    with pytest.raises(ConfigError, match="expected an artifact type"):
        Importer(source_uri=str(tmp_path), artifact_type=dict)


def test_every_node_reaches_the_hooks_importers_included(tmp_path):
    """The progress lines and the MLflow mirror are hooks: a node they never hear of is
    missing from the terminal and from MLflow (Importers were, before)."""
    from gristmill.orchestrator.hooks import PipelineHooks

    class Finished(PipelineHooks):
        def __init__(self):
            self.nodes = []

        def after_node(self, run, result, context):
            self.nodes.append((result.node_id, result.state.value))

    source = tmp_path / "schema"
    source.mkdir()
    (source / "schema.yaml").write_text("features:\n  a: int\n")
    hook = Finished()
    SequentialRunner(hooks=[hook]).run(_pipeline(tmp_path, source))
    assert hook.nodes == [("curated_schema", "COMPLETE"), ("ReadSchema", "COMPLETE")]
