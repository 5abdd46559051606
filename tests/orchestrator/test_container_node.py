"""A container component (run on this host) as a pipeline node: runs, caches, fails clearly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from orchestrator_fakes import Source, make_pipeline, read_value

from gristmill.components.framework.container import (
    InputUriPlaceholder,
    InputValuePlaceholder,
    OutputUriPlaceholder,
    create_container_component,
)
from gristmill.metadata.standard_artifacts import Examples
from gristmill.orchestrator.runner import SequentialRunner

pytestmark = pytest.mark.integration

SCRIPT = ("import os, sys; value = int(open(os.path.join(sys.argv[1], 'value.txt')).read()); "
          "open(os.path.join(sys.argv[2], 'value.txt'), 'w').write(str(value * int(sys.argv[3])))")


def _pipeline(tmp_path, factor: int, script: str = SCRIPT):
    Multiply = create_container_component(  # noqa: N806 (a component class)
        name="Multiply", image=None,
        command=[sys.executable, "-c", script, InputUriPlaceholder("x"),
                 OutputUriPlaceholder("out"), InputValuePlaceholder("factor")],
        inputs={"x": Examples}, outputs={"out": Examples}, parameters={"factor": int})
    source = Source(value=7)
    return make_pipeline(tmp_path, [source, Multiply(x=source.outputs["out"], factor=factor)])


def test_a_container_node_runs_caches_and_reruns_when_its_command_changes(tmp_path):
    first = SequentialRunner().run(_pipeline(tmp_path, factor=3))
    assert first.status == "COMPLETE"
    assert read_value(first.node("Multiply").outputs["out"][0]) == 21
    again = SequentialRunner().run(_pipeline(tmp_path, factor=3))
    assert again.node("Multiply").state.value == "CACHED"
    changed = SequentialRunner().run(_pipeline(tmp_path, factor=3, script=SCRIPT + " # v2"))
    assert changed.node("Multiply").state.value == "COMPLETE"


def test_a_failing_container_node_fails_the_run_with_the_command_output(tmp_path):
    result = SequentialRunner().run(_pipeline(tmp_path, factor=3, script="import sys; "
                                              "sys.exit('factor too large for this tool')"))
    assert result.status == "FAILED"
    error = result.node("Multiply").error
    assert "exited with status 1: factor too large for this tool" in error
    assert not list(Path(tmp_path / "root" / ".staging").iterdir())
