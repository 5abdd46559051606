"""Container components (TFX's ``create_container_component``): a command line as a node.

The command names its artifacts and parameters with placeholders, replaced at run time::

    Bash = create_container_component(
        name="CountLines", image="python:3.11-slim",
        inputs={"examples": Examples}, outputs={"report": Artifact},
        parameters={"limit": int},
        command=["python", "/app/count.py", InputUriPlaceholder("examples"),
                 OutputUriPlaceholder("report"), InputValuePlaceholder("limit")])

With an ``image`` the command runs in ``docker run --rm`` (artifact folders mounted at the
same paths, inputs read-only, as the calling user); with ``image=None`` it runs on this
host, which suits tools installed next to Gristmill. A non-zero exit fails the node with the
command's last output lines. The image and command are part of the cache key.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
from dataclasses import dataclass
from typing import Any

import pydantic

from gristmill.components.framework.base import BaseComponent, InputSpec, OutputSpec, Parameters
from gristmill.components.framework.executor import BaseExecutor
from gristmill.metadata.errors import ConfigError, ExecutorError
from gristmill.metadata.types import Artifact


@dataclass(frozen=True)
class InputUriPlaceholder:
    """The folder of input artifact ``name``."""

    name: str


@dataclass(frozen=True)
class OutputUriPlaceholder:
    """The (empty) folder the command writes output artifact ``name`` into."""

    name: str


@dataclass(frozen=True)
class InputValuePlaceholder:
    """The value of parameter ``name``."""

    name: str


@dataclass(frozen=True)
class ConcatPlaceholder:
    """Several parts joined into one argument, e.g. ``["--out=", OutputUriPlaceholder(...)]``."""

    items: tuple[Any, ...]

    def __init__(self, items):
        object.__setattr__(self, "items", tuple(items))


def _check_placeholders(name: str, command: list, inputs: dict, outputs: dict,
                        parameters: dict) -> None:
    known = {InputUriPlaceholder: (inputs, "input"), OutputUriPlaceholder: (outputs, "output"),
             InputValuePlaceholder: (parameters, "parameter")}
    for item in command:
        for part in item.items if isinstance(item, ConcatPlaceholder) else (item,):
            if isinstance(part, str):
                continue
            declared, kind = known.get(type(part), (None, ""))
            if declared is None:
                raise ConfigError(f"{name}: command item {part!r} is neither a string nor a "
                                  "placeholder.", fix="use str, InputUriPlaceholder, "
                                  "OutputUriPlaceholder, InputValuePlaceholder or "
                                  "ConcatPlaceholder")
            if part.name not in declared:
                raise ConfigError(f"{name}: {type(part).__name__}({part.name!r}) names no "
                                  f"declared {kind} (declared: {sorted(declared)}).",
                                  fix="declare it or fix the name")


def _render(part: Any, input_dict, output_dict, params) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, ConcatPlaceholder):
        return "".join(_render(p, input_dict, output_dict, params) for p in part.items)
    if isinstance(part, InputUriPlaceholder):
        artifacts = input_dict.get(part.name) or []
        return artifacts[0].uri if artifacts else ""
    if isinstance(part, OutputUriPlaceholder):
        return output_dict[part.name][0].uri
    return str(getattr(params, part.name))


class ContainerExecutor(BaseExecutor):
    """Runs the component's command (in Docker when it has an image)."""

    IMAGE: str | None = None
    COMMAND: tuple = ()
    DOCKER: str = "docker"

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        argv = [_render(p, input_dict, output_dict, exec_properties) for p in self.COMMAND]
        if self.IMAGE:
            argv = self.docker_argv(argv, input_dict, output_dict)
        workdir = self.context.tmp_dir or os.getcwd()
        os.makedirs(workdir, exist_ok=True)
        try:
            done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True)
        except FileNotFoundError as e:
            raise ConfigError(f"{self.context.component_id}: cannot start {argv[0]!r} ({e}).",
                              component_id=self.context.component_id,
                              fix="install it or put it on PATH" + (
                                  "; Docker must be running for an image" if self.IMAGE
                                  else "")) from e
        for stream, text in (("stdout", done.stdout), ("stderr", done.stderr)):
            if text:
                path = os.path.join(workdir, f"{stream}.txt")
                with open(path, "w") as f:
                    f.write(text)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
            raise ExecutorError(f"{self.context.component_id}: `{shlex.join(argv)[:300]}` "
                                f"exited with status {done.returncode}: {tail}",
                                component_id=self.context.component_id,
                                fix="fix the command or its inputs; its output is above")

    def docker_argv(self, argv: list[str], input_dict, output_dict) -> list[str]:
        """``docker run`` with every artifact folder mounted at its own path."""
        mounts = []
        for artifacts in input_dict.values():
            mounts += [f"--volume={a.uri}:{a.uri}:ro" for a in artifacts]
        for artifacts in output_dict.values():
            mounts += [f"--volume={a.uri}:{a.uri}" for a in artifacts]
        return [self.DOCKER, "run", "--rm", f"--user={os.getuid()}:{os.getgid()}", *mounts,
                self.IMAGE, *argv]


def create_container_component(name: str, image: str | None, command: list,
                               inputs: dict[str, type[Artifact]] | None = None,
                               outputs: dict[str, type[Artifact]] | None = None,
                               parameters: dict[str, type] | None = None,
                               docker: str = "docker") -> type[BaseComponent]:
    """A component class running ``command`` (see the module docstring).

    Args:
        name: The class name (the node id unless ``with_id``).
        image: Docker image, or ``None`` to run on this host.
        command: Strings and placeholders.
        inputs, outputs: Key -> artifact type.
        parameters: Key -> Python type (all required).
        docker: The Docker CLI to call (``podman`` works too).
    """
    inputs, outputs, parameters = inputs or {}, outputs or {}, parameters or {}
    _check_placeholders(name, command, inputs, outputs, parameters)
    params_model = pydantic.create_model(f"{name}Parameters", __base__=Parameters,
                                         **{k: (t, ...) for k, t in parameters.items()})
    executor = type(f"{name}Executor", (ContainerExecutor,), {
        "IMAGE": image, "COMMAND": tuple(command), "DOCKER": docker})
    identity = repr((image, [repr(p) for p in command], sorted(inputs), sorted(outputs)))
    return type(name, (BaseComponent,), {
        "INPUTS": {k: InputSpec(t) for k, t in inputs.items()},
        "OUTPUTS": {k: OutputSpec(t) for k, t in outputs.items()},
        "PARAMETERS": params_model, "EXECUTOR": executor,
        "VERSION": hashlib.sha256(identity.encode()).hexdigest()[:16],
        "__doc__": f"Container component running {image or 'on this host'}: "
                   f"{[p if isinstance(p, str) else repr(p) for p in command]}"})
