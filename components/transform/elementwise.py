"""Element-wise ops a ``preprocessing_fn`` writes with ``tf.*`` in TFX.

Comparisons (also as ``< <= > >= == !=`` on columns), logic (``& | ~``), ``where``, ``cast``,
``is_missing``, constants shaped like a column, rounding, ``pow``, string ops and date parts
from timestamps. Every op keeps the missing-value rule of
:mod:`gristmill.engine.transform_kernels`: missing in, missing out (``is_missing`` and the
constant ops are never missing). Booleans are floats ``1.0`` / ``0.0``, as TF code
``tf.cast(tf.greater(a, b), tf.float32)`` would give; ``cast(x, "int64")`` makes a nullable
integer column.
"""

from __future__ import annotations

from typing import Any

from gristmill.components.transform import analyzer_ops as an
from gristmill.components.transform.tracing import NUMERIC, Column, Deferred, Node, _expect
from gristmill.metadata.errors import ConfigError

COMPARISONS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
_INT_TYPES = ("int", "int8", "int16", "int32", "int64", "integer", "uint8", "bool")
_FLOAT_TYPES = ("float", "float16", "float32", "float64", "double")
DATE_PARTS = ("year", "month", "day", "hour", "minute", "second", "day_of_week", "day_of_year")


def _operand(value: Any, op: str) -> Node | Deferred | float:
    if isinstance(value, Column):
        return value.node
    if isinstance(value, Deferred):  # an analyzer result: a constant after analysis
        return value
    if isinstance(value, (int, float)):  # bool included: True -> 1.0
        return float(value)
    raise ConfigError(f"{op}: expected a column, a number or an analyzer result, got "
                      f"{type(value).__name__} {value!r}.",
                      fix=f"pass a column or a number to {op}")


def _label(value: Any) -> str:
    if isinstance(value, Column):
        return value.name
    return value.label if isinstance(value, Deferred) else repr(value)


def _graph(*values: Any) -> Any:
    for v in values:
        if isinstance(v, Column):
            return v.node.graph
    raise ConfigError("transform op: expected at least one column argument, got only "
                      f"constants {values!r}.", fix="compute constants in Python instead")


def _numeric_node(op: str, params: dict[str, Any], values: list[Any], label: str,
                  dtype: str = "float") -> Column:
    node = _graph(*values).add(op, [_operand(v, label) for v in values], params, dtype, label)
    for v in values:
        if isinstance(v, Column):
            _expect(node, v, NUMERIC, label.split("(")[0])
    return Column(node)


def compare(x: Any, y: Any, fn: str) -> Column:
    """``x <fn> y`` as 1.0 / 0.0 (``fn``: lt, le, gt, ge, eq, ne); strings: eq and ne."""
    if fn not in COMPARISONS:
        raise ConfigError(f"compare: unknown comparison {fn!r}.", fix=f"use {list(COMPARISONS)}")
    label = f"({_label(x)} {COMPARISONS[fn]} {_label(y)})"
    strings = [v for v in (x, y) if isinstance(v, str) or
               (isinstance(v, Column) and v.dtype == "string")]
    if strings:
        return _compare_strings(x, y, fn, label)
    return _numeric_node("compare", {"fn": fn}, [x, y], label)


def _compare_strings(x: Any, y: Any, fn: str, label: str) -> Column:
    if fn not in ("eq", "ne") or not isinstance(x, Column):
        raise ConfigError(f"{label}: strings compare only with == and != (column first).",
                          fix="compare a string column with == or != a string")
    if isinstance(y, Column):
        node = x.node.graph.add("compare_strings", [x.node, y.node], {"fn": fn}, "float", label)
        _expect(node, y, ("string",), "string comparison")
    elif isinstance(y, str):
        node = x.node.graph.add("compare_strings", [x.node], {"fn": fn, "value": y}, "float",
                                label)
    else:
        raise ConfigError(f"{label}: a string column compares with a string, got "
                          f"{type(y).__name__}.", fix="compare with a str, e.g. == 'Cash'")
    _expect(node, x, ("string",), "string comparison")
    return Column(node)


def less(x, y): return compare(x, y, "lt")
def less_equal(x, y): return compare(x, y, "le")
def greater(x, y): return compare(x, y, "gt")
def greater_equal(x, y): return compare(x, y, "ge")
def equal(x, y): return compare(x, y, "eq")
def not_equal(x, y): return compare(x, y, "ne")


def logical_and(x: Column, y: Column) -> Column:
    """1.0 where both are non-zero."""
    return _numeric_node("logical", {"fn": "and"}, [x, y], f"({_label(x)} & {_label(y)})")


def logical_or(x: Column, y: Column) -> Column:
    """1.0 where either is non-zero."""
    return _numeric_node("logical", {"fn": "or"}, [x, y], f"({_label(x)} | {_label(y)})")


def logical_not(x: Column) -> Column:
    """1.0 where ``x`` is zero."""
    return _numeric_node("logical", {"fn": "not"}, [x], f"~{_label(x)}")


def where(condition: Column, x: Any, y: Any) -> Column:
    """``x`` where ``condition`` is non-zero, else ``y`` (columns or numbers); a missing
    condition gives a missing value."""
    an.check_column(condition, "where")
    dtype = "integer" if all(_is_integral(v) for v in (x, y)) else "float"
    return _numeric_node("where", {}, [condition, x, y],
                         f"where({condition.name}, {_label(x)}, {_label(y)})", dtype)


def _is_integral(v: Any) -> bool:
    if isinstance(v, Column):
        return v.dtype in ("int", "integer")
    return isinstance(v, int) or (isinstance(v, float) and v.is_integer())


def cast(x: Column, dtype: Any) -> Column:
    """Convert ``x`` to ``float``, ``int64`` (truncates toward zero; stays nullable) or
    ``string`` (integers and strings only). ``dtype`` may be a string or ``tf.int64``-like
    object with a ``name``."""
    an.check_column(x, "cast")
    name = str(getattr(dtype, "name", dtype)).lower()
    if name in _FLOAT_TYPES:
        return _numeric_node("cast", {"to": "float"}, [x], f"cast({x.name}, float)")
    if name in _INT_TYPES:
        return _numeric_node("cast", {"to": "integer"}, [x], f"cast({x.name}, int64)",
                             "integer")
    if name in ("string", "str"):
        node = x.node.graph.add("as_string", [x.node], {}, "string", f"as_string({x.name})")
        _expect(node, x, ("int", "integer", "string"), "cast to string")
        return Column(node)
    raise ConfigError(f"cast({x.name}, {dtype!r}): unknown type.",
                      fix="cast to 'float32', 'int64' or 'string'")


def is_missing(x: Column) -> Column:
    """1.0 where ``x`` is missing (null, or NaN for numbers), else 0.0; never missing."""
    an.check_column(x, "is_missing")
    params = {"strings": True} if x.dtype == "string" else {}
    node = x.node.graph.add("is_missing", [x.node], params, "float", f"is_missing({x.name})")
    _expect(node, x, (*NUMERIC, "string"), "is_missing")
    return Column(node)


def constant_like(x: Column, value: float) -> Column:
    """A column of ``value`` with ``x``'s rows, present even where ``x`` is missing."""
    an.check_column(x, "constant_like")
    if not isinstance(value, (int, float)):
        raise ConfigError(f"constant_like: value must be a number, got {value!r}.",
                          fix="pass a number")
    dtype = "integer" if float(value).is_integer() and x.dtype in ("int", "integer") \
        else "float"
    return Column(x.node.graph.add("constant", [x.node], {"value": float(value)}, dtype,
                                   f"constant_like({x.name}, {value})"))


def zeros_like(x: Column) -> Column:
    """``constant_like(x, 0)``."""
    return constant_like(x, 0)


def ones_like(x: Column) -> Column:
    """``constant_like(x, 1)``."""
    return constant_like(x, 1)


def pow(x: Any, y: Any) -> Column:  # noqa: A001 - tf.pow's name
    """``x ** y`` (columns or numbers)."""
    return _numeric_node("arith", {"fn": "pow"}, [x, y], f"({_label(x)} ** {_label(y)})")


def _unary(fn: str, x: Column) -> Column:
    return _numeric_node("unary", {"fn": fn}, [an.check_column(x, fn)], f"{fn}({x.name})")


def round(x: Column) -> Column:  # noqa: A001 - tf.round's name
    """Round half to even, as ``tf.round`` and NumPy."""
    return _unary("round", x)


def floor(x: Column) -> Column:
    """Largest integer <= ``x``."""
    return _unary("floor", x)


def ceil(x: Column) -> Column:
    """Smallest integer >= ``x``."""
    return _unary("ceil", x)


def add(x: Any, y: Any) -> Column:
    """``x + y`` (``tf.add``)."""
    return _arith(x, y, "add")


def subtract(x: Any, y: Any) -> Column:
    """``x - y`` (``tf.subtract``)."""
    return _arith(x, y, "sub")


def multiply(x: Any, y: Any) -> Column:
    """``x * y`` (``tf.multiply``)."""
    return _arith(x, y, "mul")


def divide(x: Any, y: Any) -> Column:
    """``x / y`` (``tf.divide``); division by zero gives inf, ``0 / 0`` missing."""
    return _arith(x, y, "div")


def _arith(x: Any, y: Any, fn: str) -> Column:
    _graph(x, y)  # at least one column
    if isinstance(x, Column):
        return x._arith(y, fn)
    return y._arith(x, fn, swap=True)
