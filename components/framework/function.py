"""``@component``: turn a typed Python function into a pipeline component, as in TFX.

Example:
    >>> @component
    ... def CountRows(examples: InputArtifact[Examples], report: OutputArtifact[Artifact],
    ...               min_rows: Parameter[int] = 1) -> dict:
    ...     ...
    ...     return {"rows": 10.0}          # numbers returned are logged as metrics

Inputs are annotated ``InputArtifact[T]`` (optional when the default is ``None``), outputs
``OutputArtifact[T]`` (the function writes files under ``artifact.uri``), parameters
``Parameter[T]`` or any plain type. A parameter annotated ``ExecutionContext`` receives the
execution context. The function's source is part of the cache key.
"""

from __future__ import annotations

import hashlib
import inspect
import typing
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import pydantic

from gristmill.components.framework.base import BaseComponent, InputSpec, OutputSpec, Parameters
from gristmill.components.framework.executor import BaseExecutor, ExecutionContext
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.types import Artifact

T = TypeVar("T")


class InputArtifact(Generic[T]):
    """Annotation: an input channel of artifact type ``T``."""


class OutputArtifact(Generic[T]):
    """Annotation: an output of artifact type ``T``."""


class Parameter(Generic[T]):
    """Annotation: a parameter of type ``T`` (plain annotations work too)."""


def component(fn: Callable[..., Any]) -> type[BaseComponent]:
    """Build a component class from ``fn``'s typed signature."""
    hints = typing.get_type_hints(fn)
    inputs: dict[str, InputSpec] = {}
    outputs: dict[str, OutputSpec] = {}
    fields: dict[str, Any] = {}
    context_arg = None
    for name, param in inspect.signature(fn).parameters.items():
        hint = hints.get(name)
        if hint is None:
            raise ConfigError(f"@component {fn.__name__}: parameter {name!r} has no type "
                              "annotation.", fix=f"annotate it, e.g. {name}: Parameter[int]")
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin is InputArtifact:
            inputs[name] = InputSpec(_artifact_type(fn, name, args), param.default is None)
        elif origin is OutputArtifact:
            outputs[name] = OutputSpec(_artifact_type(fn, name, args))
        elif hint is ExecutionContext:
            context_arg = name
        else:
            value_type = args[0] if origin is Parameter else hint
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[name] = (value_type, default)
    params_model = pydantic.create_model(f"{fn.__name__}Parameters", __base__=Parameters,
                                         **fields)
    executor = _make_executor(fn, list(inputs), list(outputs), list(fields), context_arg)
    source = inspect.getsource(fn)
    return type(fn.__name__, (BaseComponent,), {
        "INPUTS": inputs, "OUTPUTS": outputs, "PARAMETERS": params_model, "EXECUTOR": executor,
        "VERSION": hashlib.sha256(source.encode()).hexdigest()[:16],
        "__module__": fn.__module__, "__doc__": fn.__doc__})


def _artifact_type(fn: Callable, name: str, args: tuple) -> type[Artifact]:
    if not args or not (isinstance(args[0], type) and issubclass(args[0], Artifact)):
        raise ConfigError(f"@component {fn.__name__}: {name!r} must name an artifact type, got "
                          f"{args}.", fix=f"write e.g. {name}: InputArtifact[Examples]")
    return args[0]


def _make_executor(fn: Callable, inputs: list[str], outputs: list[str], params: list[str],
                   context_arg: str | None) -> type[BaseExecutor]:
    def Do(self, input_dict, output_dict, exec_properties):
        kwargs: dict[str, Any] = {}
        for name in inputs:
            artifacts = input_dict.get(name) or []
            kwargs[name] = artifacts[0] if artifacts else None
        for name in outputs:
            kwargs[name] = output_dict[name][0]
        for name in params:
            kwargs[name] = getattr(exec_properties, name)
        if context_arg:
            kwargs[context_arg] = self.context
        returned = fn(**kwargs)
        if isinstance(returned, dict):
            numbers = {k: v for k, v in returned.items() if isinstance(v, (int, float))}
            self.context.log_metrics(numbers)

    return type(f"{fn.__name__}Executor", (BaseExecutor,), {"Do": Do})
