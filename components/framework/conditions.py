"""Run-time predicates over upstream artifacts, for ``Cond`` (TFX's conditional sub-DAG).

Written the TFX way::

    blessed = evaluator.outputs["blessing"].future()[0].custom_property("blessed") == 1
    with Cond(blessed):
        pusher = Pusher(...)

``future()`` / ``[i]`` / ``.custom_property(name)`` / ``.property(name)`` / ``.value_of(fn)``
build a :class:`ValueRef`; comparing it with a constant gives a :class:`Predicate`; combine
predicates with ``logical_and``, ``logical_or``, ``logical_not`` (or ``&``, ``|``, ``~``).
Nothing is evaluated when the pipeline is defined: the runner evaluates a node's predicates
once the producers they read have finished, on the artifacts those produced.

The stack of active ``Cond`` blocks lives here (the orchestrator's ``Cond`` pushes onto it)
so that a component created inside a block records its predicates without this layer
importing the orchestrator.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gristmill.metadata.errors import ConfigError

if TYPE_CHECKING:
    from gristmill.components.framework.base import Channel
    from gristmill.metadata.types import Artifact

Outputs = dict[str, dict[str, list["Artifact"]]]  # node id -> output key -> artifacts

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge}


class Predicate:
    """A boolean over upstream artifacts, evaluated by the runner."""

    def evaluate(self, outputs: Outputs) -> bool:
        """The value given the finished nodes' outputs."""
        raise NotImplementedError

    def channels(self) -> list[Channel]:
        """The channels it reads (their producers become the node's dependencies)."""
        raise NotImplementedError

    def __and__(self, other: Predicate) -> Predicate:
        return logical_and(self, other)

    def __or__(self, other: Predicate) -> Predicate:
        return logical_or(self, other)

    def __invert__(self) -> Predicate:
        return logical_not(self)

    def __bool__(self) -> bool:
        raise ConfigError("A Cond predicate has no value while the pipeline is defined; use "
                          "logical_and/logical_or/logical_not (or &, |, ~), not and/or/not.",
                          fix="e.g. logical_and(a == 1, b > 0.9)")


@dataclass(frozen=True, eq=False)
class ValueRef:
    """One value read from one artifact of a channel at run time."""

    channel: Channel
    index: int
    read: Callable[[Artifact], Any]
    label: str

    def resolve(self, outputs: Outputs) -> Any:
        """The value, or raise ConfigError naming the channel when there is no artifact."""
        artifacts = outputs.get(self.channel.producer_id, {}).get(self.channel.output_key, [])
        if not -len(artifacts) <= self.index < len(artifacts):
            raise ConfigError(f"Cond: {self.label} needs artifact [{self.index}] of "
                              f"{self.channel.producer_id}.{self.channel.output_key}, which "
                              f"produced {len(artifacts)}.", component_id=self.channel.producer_id,
                              fix="index an artifact the channel always produces, e.g. [0]")
        return self.read(artifacts[self.index])

    def _compare(self, op: str, other: Any) -> Predicate:
        return Comparison(self, op, other)

    def __eq__(self, other):  # type: ignore[override]
        return self._compare("==", other)

    def __ne__(self, other):  # type: ignore[override]
        return self._compare("!=", other)

    def __lt__(self, other):
        return self._compare("<", other)

    def __le__(self, other):
        return self._compare("<=", other)

    def __gt__(self, other):
        return self._compare(">", other)

    def __ge__(self, other):
        return self._compare(">=", other)

    __hash__ = object.__hash__


@dataclass(frozen=True)
class ArtifactRef:
    """``channel.future()[index]``: one artifact of a channel, read at run time."""

    channel: Channel
    index: int

    def _ref(self, read: Callable[[Artifact], Any], what: str) -> ValueRef:
        label = f"{self.channel.producer_id}.{self.channel.output_key}[{self.index}].{what}"
        return ValueRef(self.channel, self.index, read, label)

    @property  # (before the method named ``property`` below)
    def value(self) -> ValueRef:
        """A value artifact's value (TFX's ``future()[0].value``): in a ``Cond`` predicate,
        or as a component parameter filled in at run time."""
        return self._ref(lambda a: a.value, "value")

    def custom_property(self, name: str) -> ValueRef:
        """The artifact's custom property ``name`` (``None`` when unset)."""
        return self._ref(lambda a: a.get_custom_property(name), f"custom_property({name!r})")

    def property(self, name: str) -> ValueRef:
        """The artifact's declared property ``name``."""
        return self._ref(lambda a: a.get_property(name), f"property({name!r})")

    def value_of(self, read: Callable[[Artifact], Any], label: str = "value") -> ValueRef:
        """Any value computed from the artifact by ``read``."""
        return self._ref(read, label)


@dataclass(frozen=True)
class ChannelFuture:
    """``channel.future()``: the channel's artifacts as they will be at run time."""

    channel: Channel

    def __getitem__(self, index: int) -> ArtifactRef:
        return ArtifactRef(self.channel, index)

    @property
    def value(self) -> ValueRef:
        """``future()[0].value`` (TFX's shorthand for a one-artifact channel)."""
        return self[0].value


@dataclass(frozen=True, eq=False)
class Comparison(Predicate):
    """``value <op> constant`` (or ``value <op> value``)."""

    left: ValueRef
    op: str
    right: Any

    def evaluate(self, outputs: Outputs) -> bool:
        right = self.right.resolve(outputs) if isinstance(self.right, ValueRef) else self.right
        left = self.left.resolve(outputs)
        try:
            return bool(_OPS[self.op](left, right))
        except TypeError:  # e.g. None < 0.9: an unset property never satisfies an order
            return False

    def channels(self) -> list[Channel]:
        refs = [self.left, *([self.right] if isinstance(self.right, ValueRef) else [])]
        return [r.channel for r in refs]

    def __str__(self) -> str:
        right = self.right.label if isinstance(self.right, ValueRef) else repr(self.right)
        return f"{self.left.label} {self.op} {right}"


@dataclass(frozen=True, eq=False)
class _Combined(Predicate):
    kind: str  # "and", "or", "not"
    parts: tuple[Predicate, ...]

    def evaluate(self, outputs: Outputs) -> bool:
        if self.kind == "not":
            return not self.parts[0].evaluate(outputs)
        values = (p.evaluate(outputs) for p in self.parts)
        return all(values) if self.kind == "and" else any(values)

    def channels(self) -> list[Channel]:
        return [c for p in self.parts for c in p.channels()]

    def __str__(self) -> str:
        if self.kind == "not":
            return f"not ({self.parts[0]})"
        return f" {self.kind} ".join(f"({p})" for p in self.parts)


def _check(parts: tuple[Any, ...], name: str) -> tuple[Predicate, ...]:
    for part in parts:
        if not isinstance(part, Predicate):
            raise ConfigError(f"{name}(): expected predicates (comparisons of channel "
                              f"values), got {type(part).__name__}.",
                              fix="e.g. channel.future()[0].custom_property('blessed') == 1")
    return parts


def logical_and(*parts: Predicate) -> Predicate:
    """True when every part is."""
    return _Combined("and", _check(parts, "logical_and"))


def logical_or(*parts: Predicate) -> Predicate:
    """True when any part is."""
    return _Combined("or", _check(parts, "logical_or"))


def logical_not(part: Predicate) -> Predicate:
    """True when ``part`` is not."""
    return _Combined("not", _check((part,), "logical_not"))


_ACTIVE: list[Predicate] = []


@contextmanager
def condition_scope(predicate: Predicate) -> Iterator[None]:
    """Components created inside get ``predicate`` (nested scopes: all of them)."""
    _check((predicate,), "Cond")
    _ACTIVE.append(predicate)
    try:
        yield
    finally:
        _ACTIVE.pop()


def active_conditions() -> tuple[Predicate, ...]:
    """The predicates of the ``Cond`` blocks open right now, outermost first."""
    return tuple(_ACTIVE)
