"""Container components: a command line with placeholders as a pipeline node."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from gristmill.components.framework.container import (
    ConcatPlaceholder,
    InputUriPlaceholder,
    InputValuePlaceholder,
    OutputUriPlaceholder,
    create_container_component,
)
from gristmill.components.framework.executor import ExecutionContext
from gristmill.metadata.errors import ConfigError, ExecutorError
from gristmill.metadata.standard_artifacts import Examples, Model

pytestmark = pytest.mark.unit

SCRIPT = ("import os, sys; src, out, times = sys.argv[1], sys.argv[2].split('=', 1)[1], "
          "int(sys.argv[3]); text = open(os.path.join(src, 'value.txt')).read(); "
          "open(os.path.join(out, 'value.txt'), 'w').write(text * times); print('wrote', out)")


def _repeat(script: str = SCRIPT, image=None):
    return create_container_component(
        name="Repeat", image=image,
        command=[sys.executable, "-c", script, InputUriPlaceholder("examples"),
                 ConcatPlaceholder(["--out=", OutputUriPlaceholder("model")]),
                 InputValuePlaceholder("times")],
        inputs={"examples": Examples}, outputs={"model": Model}, parameters={"times": int})


def _artifacts(tmp_path):
    examples, model = Examples(str(tmp_path / "in")), Model(str(tmp_path / "out"))
    os.makedirs(examples.uri)
    os.makedirs(model.uri)
    with open(os.path.join(examples.uri, "value.txt"), "w") as f:
        f.write("ab")
    return examples, model


def test_the_command_runs_with_placeholders_replaced(tmp_path):
    repeat = _repeat()
    examples, model = _artifacts(tmp_path)
    node = repeat(examples=_channel(examples), times=3)
    context = ExecutionContext(component_id="Repeat", tmp_dir=str(tmp_path / "tmp"))
    repeat.EXECUTOR(context).Do({"examples": [examples]}, {"model": [model]}, node.parameters)
    assert Path(model.uri, "value.txt").read_text() == "ababab"
    assert (tmp_path / "tmp" / "stdout.txt").read_text() == f"wrote {model.uri}\n"


def test_a_failing_command_fails_the_node_with_its_last_lines(tmp_path):
    repeat = _repeat("import sys; print('bad input'); sys.exit('no value.txt here')")
    examples, model = _artifacts(tmp_path)
    node = repeat(examples=_channel(examples), times=1)
    context = ExecutionContext(component_id="Repeat", tmp_dir=str(tmp_path / "tmp"))
    with pytest.raises(ExecutorError, match=r"exited with status 1: no value.txt here"):
        repeat.EXECUTOR(context).Do({"examples": [examples]}, {"model": [model]},
                                    node.parameters)


def test_with_an_image_the_command_runs_in_docker_with_the_artifacts_mounted(tmp_path):
    repeat = _repeat(image="python:3.11-slim")
    examples, model = _artifacts(tmp_path)
    argv = repeat.EXECUTOR(ExecutionContext(component_id="Repeat")).docker_argv(
        ["python", "-c", "pass"], {"examples": [examples]}, {"model": [model]})
    assert argv == ["docker", "run", "--rm", f"--user={os.getuid()}:{os.getgid()}",
                    f"--volume={examples.uri}:{examples.uri}:ro",
                    f"--volume={model.uri}:{model.uri}", "python:3.11-slim",
                    "python", "-c", "pass"]
    no_docker = create_container_component(name="X", image="busybox", command=["true"],
                                          docker="no-such-docker-cli")
    with pytest.raises(ConfigError, match="cannot start 'no-such-docker-cli'.*Docker must"):
        no_docker.EXECUTOR(ExecutionContext(component_id="X", tmp_dir=str(tmp_path))).Do(
            {}, {}, no_docker.PARAMETERS())


def test_placeholders_must_name_declared_keys_and_image_and_command_key_the_cache():
    with pytest.raises(ConfigError, match=r"OutputUriPlaceholder\('modle'\) names no declared"
                                          r" output \(declared: \['model'\]\)"):
        create_container_component(name="Bad", image=None, outputs={"model": Model},
                                   command=["x", OutputUriPlaceholder("modle")])
    with pytest.raises(ConfigError, match="neither a string nor a placeholder"):
        create_container_component(name="Bad", image=None, command=["x", 3])
    assert _repeat().VERSION == _repeat().VERSION
    assert _repeat(image="a").VERSION != _repeat(image="b").VERSION
    assert _repeat(SCRIPT + " ").VERSION != _repeat().VERSION


def _channel(artifact):
    from gristmill.components.framework.base import Channel

    return Channel(type=type(artifact))
