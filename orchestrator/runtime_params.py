"""Run-time parameters: a component parameter given an upstream value artifact.

TFX passes values produced while the pipeline runs into another component's parameters,
e.g. a span chosen by a generator component into ExampleGen::

    gen = RangeConfigGen(span=2)
    example_gen = CsvExampleGen(
        input_base=data, input_config=..., range_config=gen.outputs["range_config"]
        .future()[0].value)

``future()[0].value`` is a :class:`~gristmill.components.framework.conditions.ValueRef`;
the component keeps it in ``component.runtime_parameters``. The compiler makes the value's
producer an upstream of the node (:func:`runtime_channels`), and the launcher, once the
producer has finished and before the cache key is computed, calls
:func:`resolve_runtime_parameters`: it reads the value artifact, validates the value as the
parameter (a JSON string of a config model, as TFX's ``proto_utils.proto_to_json`` writes,
is parsed), and returns a copy of the component whose ``parameters`` hold it. So the cache
key, the recorded parameters and the executor all see the resolved value, and a different
value is a different cache key. A missing artifact, a non-value artifact, an unset value or
a value of the wrong type is a ``ConfigError`` that names the node, the parameter and the
producing channel.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import pydantic

from gristmill.components.framework.base import BaseComponent, Channel
from gristmill.components.framework.conditions import ValueRef
from gristmill.metadata.errors import ConfigError, GristmillError
from gristmill.metadata.types import Artifact

Outputs = Mapping[str, Mapping[str, list[Artifact]]]


def runtime_channels(component: BaseComponent) -> list[Channel]:
    """The channels whose values fill ``component``'s run-time parameters."""
    refs = getattr(component, "runtime_parameters", {}) or {}
    return [ref.channel for ref in refs.values()]


def resolve_runtime_parameters(component: BaseComponent, outputs: Outputs) -> BaseComponent:
    """``component`` itself when it has no run-time parameters, else a copy whose
    ``parameters`` hold the values read from the finished producers' ``outputs``.

    Raises:
        ConfigError: A value is missing, not from a value artifact, or not a valid value of
            its parameter.
    """
    refs: dict[str, ValueRef] = getattr(component, "runtime_parameters", {}) or {}
    if not refs:
        return component
    values = {key: _read(component, key, ref, outputs) for key, ref in refs.items()}
    given = {name: getattr(component.parameters, name)
             for name in component.parameters.model_fields_set}
    parameters = _validate(component, {**given, **values}, values, refs)
    resolved = copy.copy(component)
    resolved.parameters = parameters
    resolved.runtime_parameters = {}
    return resolved


def _describe(ref: ValueRef) -> str:
    return f'{ref.channel.producer_id}.outputs["{ref.channel.output_key}"]' \
           f".future()[{ref.index}].value"


def _where(component: BaseComponent, key: str, ref: ValueRef) -> str:
    return f"{component.id}({key}={_describe(ref)})"


def _read(component: BaseComponent, key: str, ref: ValueRef, outputs: Outputs) -> Any:
    where = _where(component, key, ref)
    producer = ref.channel.producer_id
    artifacts = list(outputs.get(producer, {}).get(ref.channel.output_key, []))
    if not -len(artifacts) <= ref.index < len(artifacts):
        raise ConfigError(f"{where}: the run-time value is missing: {producer} produced "
                          f"{len(artifacts)} {ref.channel.output_key!r} artifact(s) in this "
                          f"run, and artifact [{ref.index}] was asked for.",
                          component_id=component.id,
                          fix=f"make {producer} write its {ref.channel.output_key!r} output "
                              "(and run it before this node), or pass a value instead")
    artifact = artifacts[ref.index]
    if not hasattr(type(artifact), "value"):
        raise ConfigError(f"{where}: expected a value artifact (String, Integer, Float, "
                          f"Boolean, JsonValue), got {artifact.type_name}.",
                          component_id=component.id,
                          fix=f"declare {producer}'s output as a value artifact and set its "
                              ".value, or pass the channel as an input instead")
    try:
        return ref.read(artifact)
    except GristmillError as e:
        reason = str(e).split(" Fix: ")[0]  # our fix below replaces the inner one
        raise ConfigError(f"{where}: the run-time value could not be read: {reason}",
                          component_id=component.id,
                          fix=f"set {ref.channel.output_key}.value in {producer}") from e


def _validate(component: BaseComponent, params: dict[str, Any], values: dict[str, Any],
              refs: dict[str, ValueRef]) -> Any:
    """``PARAMETERS(**params)``, parsing JSON strings of config models when needed."""
    try:
        return component.PARAMETERS(**params)
    except pydantic.ValidationError as e:
        error = e
    parsed = {k: _json(v) for k, v in values.items()}
    if parsed != values:  # a config model's JSON (TFX's proto_utils.proto_to_json)
        try:
            return component.PARAMETERS(**{**params, **parsed})
        except pydantic.ValidationError as e:
            error = e  # the JSON parsed: its own problems are the ones to report
    problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
                         for err in error.errors())
    key = next((str(err["loc"][0]) for err in error.errors()
                if err["loc"] and str(err["loc"][0]) in refs), next(iter(refs)))
    ref = refs[key]
    raise ConfigError(
        f"{_where(component, key, ref)}: the run-time value {_short(values[key])} is not a "
        f"valid value: {problems}.", component_id=component.id,
        fix=f"make {ref.channel.producer_id} write a valid {key} (for a config model: its "
            "dict in a JsonValue, or proto_utils.proto_to_json of it in a String)") from error


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
