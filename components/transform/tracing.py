"""Symbolic tracing of a ``preprocessing_fn``.

``trace(fn, raw_types)`` calls the user's function once with :class:`Column` handles instead of
data. Every transform op records a :class:`Node` (a per-row mapper) or an :class:`Analyzer`
(a full-pass reduction) in a :class:`Graph`; analyzer results are :class:`Deferred` constants
that are resolved after analysis. Type errors are recorded on the node and reported when the
outputs are known, so the message can name the output feature that uses the bad op.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gristmill.metadata.errors import ConfigError, did_you_mean

NUMERIC = ("float", "int", "integer")
TYPE_NAMES = {"float": "float", "int": "int", "string": "string", "other": "other",
              "onehot": "one-hot vector", "integer": "nullable int64",
              "tokens": "token list", "token_ids": "token id list", "weights": "weight list"}


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


@dataclass(eq=False)
class Analyzer:
    """A full-pass reduction over the analysed data (one accumulator, many results).

    Attributes:
        kind: Accumulator kind (``moments``, ``quantiles``, ``counts``, ``histogram``,
            ``moments_per_key``), see :mod:`.analyzers`.
        inputs: The columns it reduces.
        params: Accumulator parameters (e.g. sketch size, histogram boundaries).
        label: Human-readable name, e.g. ``moments(fare)``.
    """

    kind: str
    inputs: list[Node]
    params: dict[str, Any]
    label: str
    error: str | None = None
    seq: int = -1

    @property
    def fingerprint(self) -> str:
        """Stable id of what is reduced and how: the cache key of its accumulator."""
        return _digest([self.kind, self.params, [n.signature for n in self.inputs]])

    @property
    def phase(self) -> int:
        """Analysis pass that computes it: 0 unless its input needs other analyzers."""
        return max((n.phase for n in self.inputs), default=0)


class Deferred:
    """A constant known only after analysis (``gt.mean(x)``), usable in arithmetic.

    Args:
        extract: Resolved accumulators (fingerprint -> accumulator) -> value.
        analyzers: Analyzers whose accumulators ``extract`` reads.
        label: Human-readable description for the plan and errors.
    """

    def __init__(self, extract: Callable[[dict[str, Any]], Any], analyzers: list[Analyzer],
                 label: str):
        self.extract = extract
        self.analyzers = analyzers
        self.label = label

    def resolve(self, accumulators: dict[str, Any]) -> Any:
        """The value, given every analyzer's merged accumulator."""
        return self.extract(accumulators)

    @property
    def phase(self) -> int:
        """Number of analysis passes needed before the value is known."""
        return max((a.phase + 1 for a in self.analyzers), default=0)

    def _combine(self, other: Any, fn: Callable[[Any, Any], Any], sym: str,
                 swap: bool = False) -> Deferred | Column:
        if isinstance(other, Column):
            return other._arith(self, {"+": "add", "-": "sub", "*": "mul", "/": "div"}[sym],
                                swap=not swap)
        o_an = other.analyzers if isinstance(other, Deferred) else []
        o_label = other.label if isinstance(other, Deferred) else repr(other)

        def value(accs: dict[str, Any]) -> Any:
            o = other.resolve(accs) if isinstance(other, Deferred) else other
            a = self.resolve(accs)
            return fn(o, a) if swap else fn(a, o)

        label = f"({o_label} {sym} {self.label})" if swap else f"({self.label} {sym} {o_label})"
        return Deferred(value, [*self.analyzers, *o_an], label)

    def __getitem__(self, index: int) -> Deferred:
        """One element of a list-valued result, e.g. ``gt.quantiles(x, 4)[1]`` (the median)."""
        return Deferred(lambda accs: self.resolve(accs)[index], self.analyzers,
                        f"{self.label}[{index}]")

    def __add__(self, o): return self._combine(o, lambda a, b: a + b, "+")
    def __radd__(self, o): return self._combine(o, lambda a, b: a + b, "+", swap=True)
    def __sub__(self, o): return self._combine(o, lambda a, b: a - b, "-")
    def __rsub__(self, o): return self._combine(o, lambda a, b: a - b, "-", swap=True)
    def __mul__(self, o): return self._combine(o, lambda a, b: a * b, "*")
    def __rmul__(self, o): return self._combine(o, lambda a, b: a * b, "*", swap=True)
    def __truediv__(self, o): return self._combine(o, lambda a, b: a / b, "/")
    def __rtruediv__(self, o): return self._combine(o, lambda a, b: a / b, "/", swap=True)

    def __repr__(self) -> str:
        return f"Deferred({self.label})"


@dataclass(eq=False)
class Node:
    """One per-row value in the traced graph.

    Attributes:
        op: Plan op name (``input`` for a raw column).
        args: Input nodes, or numbers for ``arith``.
        params: Op parameters; values may be :class:`Deferred` or a vocabulary handle.
        dtype: ``float``, ``int``, ``string``, ``onehot`` or ``other``.
        label: Human-readable expression, e.g. ``log1p(fare)``.
        error: Set when the op got an input type it cannot take.
    """

    op: str
    args: list[Any]
    params: dict[str, Any]
    dtype: str
    label: str
    error: str | None = None
    graph: Graph | None = field(default=None, repr=False)
    id: int = -1

    @property
    def signature(self) -> str:
        """Stable digest of the expression (what it computes, not where it is in the fn)."""
        if self.op == "input":
            return _digest(["input", self.params["name"], self.dtype])
        params = {k: _sig(v) for k, v in self.params.items()}
        args = [_sig(a) for a in self.args]
        return _digest([self.op, params, args])

    @property
    def phase(self) -> int:
        """Analysis passes that must finish before this value can be computed."""
        deps = [a.phase for a in [*self.args, *self.params.values()]
                if isinstance(a, (Node, Deferred))]
        return max(deps, default=0)

    def analyzers(self) -> list[Analyzer]:
        """Analyzers whose results this node uses directly."""
        return [an for v in [*self.args, *self.params.values()] if isinstance(v, Deferred)
                for an in v.analyzers]

    def nodes(self) -> Iterator[Node]:
        """This node and everything it depends on (including analyzer inputs)."""
        seen: set[int] = set()
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            if node.id in seen:
                continue
            seen.add(node.id)
            yield node
            stack.extend(a for a in node.args if isinstance(a, Node))
            for an in node.analyzers():
                stack.extend(an.inputs)


class Column:
    """The symbolic handle a ``preprocessing_fn`` receives and transform ops return.

    Supports ``+ - * /`` with numbers, other columns and analyzer results (``gt.mean(x)``).
    """

    def __init__(self, node: Node):
        self.node = node

    @property
    def dtype(self) -> str:
        """``float``, ``int``, ``string``, ``onehot`` or ``other``."""
        return self.node.dtype

    @property
    def name(self) -> str:
        """The expression this column stands for."""
        return self.node.label

    def _arith(self, other: Any, fn: str, swap: bool = False) -> Column:
        sym = {"add": "+", "sub": "-", "mul": "*", "div": "/"}[fn]
        operands = [self, other][::-1] if swap else [self, other]
        label = f"({_label(operands[0])} {sym} {_label(operands[1])})"
        graph = self.node.graph
        node = graph.add("arith", [], {"fn": fn}, "float", label)
        for o in operands:
            if isinstance(o, Column):
                node.args.append(o.node)
                _expect(node, o, NUMERIC, f"arithmetic '{sym}'")
            elif isinstance(o, Deferred):
                node.args.append(o)
            elif isinstance(o, (int, float)) and not isinstance(o, bool):
                node.args.append(float(o))
            else:
                node.error = node.error or (f"arithmetic '{sym}' expected a column, a number or "
                                            f"an analyzer result, got {type(o).__name__}")
        return Column(node)

    def __add__(self, o): return self._arith(o, "add")
    def __radd__(self, o): return self._arith(o, "add", swap=True)
    def __sub__(self, o): return self._arith(o, "sub")
    def __rsub__(self, o): return self._arith(o, "sub", swap=True)
    def __mul__(self, o): return self._arith(o, "mul")
    def __rmul__(self, o): return self._arith(o, "mul", swap=True)
    def __truediv__(self, o): return self._arith(o, "div")
    def __rtruediv__(self, o): return self._arith(o, "div", swap=True)
    def __neg__(self): return self._arith(-1.0, "mul")
    def __pow__(self, o): return _ew().pow(self, o)
    def __rpow__(self, o): return _ew().pow(o, self)

    # Comparisons and logic build columns of 1.0 / 0.0 (TF's tf.greater, tf.logical_and ...).
    def __lt__(self, o): return _ew().compare(self, o, "lt")
    def __le__(self, o): return _ew().compare(self, o, "le")
    def __gt__(self, o): return _ew().compare(self, o, "gt")
    def __ge__(self, o): return _ew().compare(self, o, "ge")
    def __eq__(self, o): return _ew().compare(self, o, "eq")  # type: ignore[override]
    def __ne__(self, o): return _ew().compare(self, o, "ne")  # type: ignore[override]
    def __and__(self, o): return _ew().logical_and(self, o)
    def __rand__(self, o): return _ew().logical_and(o, self)
    def __or__(self, o): return _ew().logical_or(self, o)
    def __ror__(self, o): return _ew().logical_or(o, self)
    def __invert__(self): return _ew().logical_not(self)
    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise ConfigError(f"preprocessing_fn: the column {self.name!r} has no truth value while "
                          "tracing (it holds no data yet).",
                          fix="use transform ops instead of Python if/and/or on columns")

    def __repr__(self) -> str:
        return f"Column({self.name}: {self.dtype})"


def _ew():
    from gristmill.components.transform import elementwise

    return elementwise


def _sig(v: Any) -> Any:
    if isinstance(v, Node):
        return v.signature
    if isinstance(v, Deferred):
        return ["deferred", v.label, sorted(a.fingerprint for a in v.analyzers)]
    return getattr(v, "label", v)


def _label(x: Any) -> str:
    return x.name if isinstance(x, Column) else getattr(x, "label", repr(x))


def _expect(node: Node, col: Column, allowed: tuple[str, ...], op: str) -> None:
    if col.dtype not in allowed and node.error is None:
        want = " or ".join(TYPE_NAMES[t] for t in allowed if t != "integer")
        node.error = f"{op} expected a {want} input, got {TYPE_NAMES[col.dtype]} ({col.name})"


class Graph:
    """Every node and analyzer a traced ``preprocessing_fn`` created."""

    def __init__(self):
        self.nodes: list[Node] = []
        self.analyzers: dict[str, Analyzer] = {}
        self._seq = 0

    def add(self, op: str, args: list[Any], params: dict[str, Any], dtype: str,
            label: str) -> Node:
        """Record a node (mappers call this)."""
        node = Node(op, list(args), dict(params), dtype, label, graph=self, id=self._next())
        self.nodes.append(node)
        return node

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def analyzer(self, kind: str, inputs: list[Column], params: dict[str, Any],
                 label: str) -> Analyzer:
        """Record (or reuse: same kind, params and inputs) an analyzer."""
        an = Analyzer(kind, [c.node for c in inputs], dict(params), label, seq=self._next())
        return self.analyzers.setdefault(an.fingerprint, an)


class Inputs(Mapping):
    """The ``inputs`` dict given to ``preprocessing_fn``: raw column name -> :class:`Column`."""

    def __init__(self, graph: Graph, raw_types: dict[str, str]):
        self._cols = {name: Column(graph.add("input", [], {"name": name}, t, name))
                      for name, t in raw_types.items()}

    def __getitem__(self, name: str) -> Column:
        if name not in self._cols:
            raise ConfigError(f"preprocessing_fn: inputs[{name!r}] is not a column of the "
                              f"examples.{did_you_mean(name, self._cols)}",
                              fix=f"use one of {sorted(self._cols)}")
        return self._cols[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._cols)

    def __len__(self) -> int:
        return len(self._cols)


@dataclass
class TracedFn:
    """The result of tracing: the graph and the output name -> node mapping."""

    graph: Graph
    outputs: dict[str, Node]
    raw_types: dict[str, str]


def trace(fn: Callable, raw_types: dict[str, str],
          custom_config: dict[str, Any] | None = None) -> TracedFn:
    """Run ``fn`` symbolically and check what it returned.

    Args:
        fn: ``preprocessing_fn(inputs)`` or ``preprocessing_fn(inputs, custom_config)``.
        raw_types: Raw column name -> ``float | int | string | other``.
        custom_config: Passed to ``fn`` when it takes a second argument.

    Raises:
        ConfigError: ``fn`` did not return a dict of columns, or an op got the wrong type.
    """
    graph = Graph()
    inputs = Inputs(graph, raw_types)
    params = inspect.signature(fn).parameters
    out = fn(inputs, custom_config or {}) if len(params) >= 2 else fn(inputs)
    if not isinstance(out, Mapping):
        raise ConfigError(f"preprocessing_fn must return a dict of output name -> column, got "
                          f"{type(out).__name__}.", fix="return {'name': column, ...}")
    outputs = {}
    for name, col in out.items():
        if not isinstance(col, Column):
            raise ConfigError(f"preprocessing_fn output {name!r}: expected a column (an input "
                              f"or the result of a transform op), got {type(col).__name__} "
                              f"{col!r}.", fix="wrap constants in a transform op or drop them")
        outputs[str(name)] = col.node
    _check_types(outputs, graph)
    return TracedFn(graph, outputs, dict(raw_types))


def _check_types(outputs: dict[str, Node], graph: Graph) -> None:
    for name, node in outputs.items():
        # The op the user called (a mapper) is named before the analyzers it created.
        bad = [(isinstance(n, Analyzer), n.seq if isinstance(n, Analyzer) else n.id, n.error)
               for n in _reachable(node) if n.error]
        if bad:
            raise ConfigError(f"preprocessing_fn output {name!r}: {min(bad)[2]}.",
                              fix="cast or encode the input first (e.g. "
                                  "compute_and_apply_vocabulary for strings)")
    for item in [*graph.nodes, *graph.analyzers.values()]:
        if item.error:
            raise ConfigError(f"preprocessing_fn (an op not used by any output): {item.error}.",
                              fix="remove the op or fix its input")


def _reachable(node: Node) -> list[Node | Analyzer]:
    found: list[Node | Analyzer] = []
    for n in node.nodes():
        found.append(n)
        found.extend(n.analyzers())
    return found
