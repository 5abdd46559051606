"""Two pipelines under one name in one store (issue 14 item 6): refused, with the fix."""

from __future__ import annotations

import shutil

import pytest
from orchestrator_fakes import FAKE_PIPELINE, linear

from gristmill.metadata.errors import ConfigError
from gristmill.metadata.store import PIPELINE, open_store
from gristmill.orchestrator import Pipeline, SequentialRunner
from gristmill.orchestrator.cli import main

pytestmark = pytest.mark.integration


def _cli(tmp_path, capsys, file, *flags):
    code = main(["run", str(file), f"--param=root={tmp_path / 'root'}",
                 f"--param=metadata_url=sqlite:///{tmp_path / 'metadata.db'}", *flags])
    return code, capsys.readouterr().err


def test_a_second_pipeline_file_under_a_used_name_is_refused(tmp_path, capsys):
    copy = tmp_path / "other_team" / "fake_pipeline.py"
    copy.parent.mkdir()
    shutil.copy(FAKE_PIPELINE, copy)  # the same name, "fake", from another file
    assert _cli(tmp_path, capsys, FAKE_PIPELINE)[0] == 0
    code, err = _cli(tmp_path, capsys, copy)
    assert code == 2
    assert (f"error: Pipeline 'fake' from {copy}: this metadata store already holds the "
            f"history of a different pipeline named 'fake', from {FAKE_PIPELINE}.") in err
    assert "Fix: rename this pipeline" in err and "--allow-shared-name" in err
    # explain (and --dry-run) say what the run would: the same refusal, no preview
    for command in (["explain"], ["run", "--dry-run"]):
        code = main([*command, str(copy), f"--param=root={tmp_path / 'root'}",
                     f"--param=metadata_url=sqlite:///{tmp_path / 'metadata.db'}"])
        assert code == 2 and "already holds the history" in capsys.readouterr().err
    with open_store(f"sqlite:///{tmp_path / 'metadata.db'}") as store:
        runs = store.list_executions(pipeline_name="fake")
        assert {e.run_id for e in runs} and len({e.run_id for e in runs}) == 1
    # Sharing on purpose: allowed once, then recorded.
    code, err = _cli(tmp_path, capsys, copy, "--allow-shared-name")
    assert code == 0, err
    assert _cli(tmp_path, capsys, copy)[0] == 0
    assert _cli(tmp_path, capsys, FAKE_PIPELINE)[0] == 0


def test_a_declared_pipeline_id_is_the_identity(tmp_path):
    url = f"sqlite:///{tmp_path / 'metadata.db'}"

    def build(pipeline_id):
        return Pipeline("shared", linear(), root=str(tmp_path / "root"), metadata_url=url,
                        tracking_uri="", pipeline_id=pipeline_id)

    assert SequentialRunner().run(build("team-a")).status == "COMPLETE"
    assert SequentialRunner().run(build("team-a")).status == "COMPLETE"
    with pytest.raises(ConfigError, match="from pipeline_id 'team-b': this metadata store "
                                          "already holds the history of a different pipeline "
                                          "named 'shared', from pipeline_id 'team-a'"):
        SequentialRunner().run(build("team-b"))
    SequentialRunner().run(build("team-b"), allow_shared_name=True)
    with open_store(url) as store:
        assert store.get_context(PIPELINE, "shared").properties["identities"] == [
            "id:team-a", "id:team-b"]
