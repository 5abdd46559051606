"""Artifact and execution model shared by every layer.

An :class:`Artifact` is a typed pointer to files under a URI plus properties. Typed
subclasses (``Examples``, ``Model`` ...) live in :mod:`gristmill.metadata.standard_artifacts`
and declare their property schema in ``PROPERTIES``. The store persists artifacts; executors
only read and fill them in memory.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

PropertyValue = int | float | str | bool | list | dict | None
_PROPERTY_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool, "json": object}


class ArtifactState(str, enum.Enum):
    """Lifecycle of an artifact: PENDING until its producer publishes it LIVE."""

    PENDING = "PENDING"
    LIVE = "LIVE"
    ABANDONED = "ABANDONED"
    DELETED = "DELETED"


class ExecutionState(str, enum.Enum):
    """Lifecycle of one component execution."""

    NEW = "NEW"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    CACHED = "CACHED"
    CANCELED = "CANCELED"

    @property
    def succeeded(self) -> bool:
        """True for states whose outputs downstream components may consume."""
        return self in (ExecutionState.COMPLETE, ExecutionState.CACHED)


class Artifact:
    """A typed, tracked output of a component.

    Subclasses set ``TYPE_NAME`` and ``PROPERTIES`` (name -> "int" | "float" | "str" |
    "bool" | "json"). Declared properties are validated on assignment; anything else goes
    into ``custom_properties``.

    Attributes:
        uri: Directory holding the artifact's files.
        id: Store id, ``None`` until registered.
        state: The :class:`ArtifactState`.
        properties: Values of the declared ``PROPERTIES``.
        custom_properties: Free-form values set by executors (e.g. ``blessed``).
        fingerprint: Content hash of the files, set when the artifact is published.
    """

    TYPE_NAME: ClassVar[str] = "Artifact"
    PROPERTIES: ClassVar[dict[str, str]] = {}

    def __init__(self, uri: str = "", *, id: int | None = None,
                 state: ArtifactState = ArtifactState.PENDING,
                 properties: dict[str, PropertyValue] | None = None,
                 custom_properties: dict[str, PropertyValue] | None = None,
                 fingerprint: str | None = None, producer_component: str | None = None,
                 output_key: str | None = None, create_time: float | None = None):
        self.uri = uri
        self.id = id
        self.state = ArtifactState(state)
        self.properties: dict[str, PropertyValue] = {}
        for name, value in (properties or {}).items():
            self.set_property(name, value)
        self.custom_properties: dict[str, PropertyValue] = dict(custom_properties or {})
        self.fingerprint = fingerprint
        self.producer_component = producer_component
        self.output_key = output_key
        self.create_time = create_time

    @property
    def type_name(self) -> str:
        """The artifact type's name as stored, e.g. ``"Examples"``."""
        return self.TYPE_NAME

    def set_property(self, name: str, value: PropertyValue) -> None:
        """Set a declared property, checking its type.

        Raises:
            TypeError: ``name`` is not declared or ``value`` has the wrong type.
        """
        if name not in self.PROPERTIES:
            raise TypeError(
                f"{self.TYPE_NAME} has no property {name!r} (declared: {sorted(self.PROPERTIES)}); "
                f"use set_custom_property for free-form values")
        expected = _PROPERTY_TYPES[self.PROPERTIES[name]]
        if value is not None and not isinstance(value, expected):
            raise TypeError(f"{self.TYPE_NAME}.{name}: expected {self.PROPERTIES[name]}, "
                            f"got {type(value).__name__} {value!r}")
        self.properties[name] = value

    def get_property(self, name: str, default: PropertyValue = None) -> PropertyValue:
        """Return a declared property's value or ``default``."""
        return self.properties.get(name, default)

    def set_custom_property(self, name: str, value: PropertyValue) -> None:
        """Set a free-form property; the value must be JSON-serialisable."""
        json.dumps(value)
        self.custom_properties[name] = value

    def get_custom_property(self, name: str, default: PropertyValue = None) -> PropertyValue:
        """Return a custom property's value or ``default``."""
        return self.custom_properties.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, as the CLI prints it."""
        return {"id": self.id, "type": self.TYPE_NAME, "uri": self.uri, "state": self.state.value,
                "properties": self.properties, "custom_properties": self.custom_properties,
                "fingerprint": self.fingerprint, "producer": self.producer_component,
                "output_key": self.output_key}

    def __repr__(self) -> str:
        return f"{self.TYPE_NAME}(id={self.id}, uri={self.uri!r}, state={self.state.value})"


_REGISTRY: dict[str, type[Artifact]] = {"Artifact": Artifact}


def register_artifact_type(cls: type[Artifact]) -> type[Artifact]:
    """Class decorator: make ``cls`` loadable by its ``TYPE_NAME`` from the store."""
    _REGISTRY[cls.TYPE_NAME] = cls
    return cls


def artifact_class(type_name: str) -> type[Artifact]:
    """Return the registered class for ``type_name``; unknown names get a generic subclass."""
    if type_name not in _REGISTRY:
        _REGISTRY[type_name] = type(type_name, (Artifact,), {"TYPE_NAME": type_name})
    return _REGISTRY[type_name]


@dataclass(frozen=True)
class ExecutionRecord:
    """One component execution as stored."""

    id: int
    component_id: str
    component_type: str
    state: ExecutionState
    parameters: dict[str, Any] = field(default_factory=dict)
    cache_key: str | None = None
    cache_ingredients: dict[str, Any] = field(default_factory=dict)
    pipeline_name: str | None = None
    run_id: str | None = None
    start_time: float | None = None
    end_time: float | None = None
    error: str | None = None
    pid: int | None = None
    host: str | None = None
    custom_properties: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        """Wall-clock duration, when finished."""
        if self.start_time is None or self.end_time is None:
            return None
        return self.end_time - self.start_time


class EventType(str, enum.Enum):
    """Direction of an artifact relative to an execution."""

    INPUT = "INPUT"
    OUTPUT = "OUTPUT"


@dataclass(frozen=True)
class EventRecord:
    """Links an artifact to an execution under an input/output key and index."""

    execution_id: int
    artifact_id: int
    type: EventType
    key: str
    index: int = 0


@dataclass(frozen=True)
class ContextRecord:
    """A grouping of executions and artifacts: a pipeline, a pipeline run, or a node."""

    id: int
    type: str
    name: str
    properties: dict[str, Any] = field(default_factory=dict)
    create_time: float | None = None


@dataclass(frozen=True)
class LineageGraph:
    """Artifacts, executions and events reachable from one artifact within N hops."""

    artifacts: list[Artifact]
    executions: list[ExecutionRecord]
    events: list[EventRecord]
