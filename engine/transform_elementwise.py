"""Kernels of the element-wise ops (comparisons, logic, where, cast, strings, dates).

Same value forms and missing-value rule as :mod:`.transform_kernels`: float64 NumPy arrays
with NaN for missing, Arrow arrays for strings. Comparisons and logic give 1.0 / 0.0 and
missing where an input is missing; ``is_missing`` and ``constant`` are never missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gristmill.engine import transform_kernels as k

Value = Any
_COMPARE = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
            "eq": np.equal, "ne": np.not_equal}
_STRING_COMPARE = {"eq": pc.equal, "ne": pc.not_equal}


def _num(value: Value) -> np.ndarray | float:
    return float(value) if isinstance(value, (int, float)) else k.as_float(value)


def _missing(*values: Any) -> np.ndarray | bool:
    out: Any = False
    for v in values:
        if isinstance(v, np.ndarray):
            out = out | np.isnan(v)
    return out


def _masked(out: np.ndarray, missing: np.ndarray | bool) -> np.ndarray:
    out = np.asarray(out, np.float64)
    return np.where(missing, np.nan, out) if np.any(missing) else out


def compare(args: list[Value], p: dict) -> np.ndarray:
    """1.0 where ``a <fn> b`` holds, 0.0 where not, NaN where either is missing."""
    a, b = _num(args[0]), _num(args[1])
    with np.errstate(invalid="ignore"):
        return _masked(_COMPARE[p["fn"]](a, b), _missing(a, b))


def compare_strings(args: list[Value], p: dict) -> np.ndarray:
    """String ``==`` / ``!=`` against a column or the constant ``value``."""
    x = k.as_string(args[0])
    other = k.as_string(args[1]) if len(args) > 1 else pa.scalar(p["value"], pa.string())
    return k.as_float(pc.cast(_STRING_COMPARE[p["fn"]](x, other), pa.float64()))


def logical(args: list[Value], p: dict) -> np.ndarray:
    """``and`` / ``or`` / ``not`` of non-zero-is-true values."""
    vals = [_num(a) for a in args]
    truth = [np.asarray(v) != 0 for v in vals]
    if p["fn"] == "not":
        out = ~truth[0]
    elif p["fn"] == "and":
        out = truth[0] & truth[1]
    else:
        out = truth[0] | truth[1]
    return _masked(out, _missing(*vals))


def where(args: list[Value], p: dict) -> np.ndarray:
    """``x`` where the condition is non-zero, else ``y``; a missing condition -> missing."""
    cond, x, y = (_num(a) for a in args)
    n = len(cond)
    out = np.where(np.asarray(cond) != 0, np.broadcast_to(x, n), np.broadcast_to(y, n))
    return _masked(out, np.isnan(cond))


def cast(args: list[Value], p: dict) -> np.ndarray:
    """To ``float`` (unchanged values) or ``integer`` (truncated toward zero, NaN kept)."""
    x = k.as_float(args[0])
    return np.trunc(x) if p["to"] == "integer" else x


def as_string(args: list[Value], p: dict) -> pa.Array:
    """Integers (or strings) as strings; missing stays null."""
    value = args[0]
    if isinstance(value, np.ndarray) and value.dtype == np.int64:  # ids
        return pa.array(value, pa.int64()).cast(pa.string())
    if isinstance(value, np.ndarray):  # a nullable cast to int64: NaN marks missing
        missing = np.isnan(value)
        ints = np.nan_to_num(value, nan=0.0).astype(np.int64)
        return pa.array(ints, pa.int64(), mask=missing).cast(pa.string())
    return k.as_string(value)


def is_missing(args: list[Value], p: dict) -> np.ndarray:
    """1.0 where the value is null (or NaN for numbers), else 0.0."""
    if p.get("strings"):
        return k.as_string(args[0]).is_null().to_numpy(zero_copy_only=False).astype(np.float64)
    return np.isnan(k.as_float(args[0])).astype(np.float64)


def constant(args: list[Value], p: dict) -> np.ndarray:
    """``value`` on every row of the argument."""
    return np.full(len(args[0]), float(p["value"]), np.float64)


def string_op(args: list[Value], p: dict) -> pa.Array:
    """``lower``, ``upper``, ``strip``, ``regex_replace`` or ``substr`` in Arrow."""
    x, fn = k.as_string(args[0]), p["fn"]
    if fn == "lower":
        return pc.utf8_lower(x)
    if fn == "upper":
        return pc.utf8_upper(x)
    if fn == "strip":
        return pc.utf8_trim_whitespace(x)
    if fn == "regex_replace":
        return pc.replace_substring_regex(x, pattern=p["pattern"], replacement=p["rewrite"],
                                          max_replacements=p.get("max_replacements"))
    pos, length = int(p["pos"]), int(p["length"])
    if pos >= 0:
        return pc.utf8_slice_codeunits(x, start=pos, stop=pos + length)
    stop = pos + length
    return pc.utf8_slice_codeunits(x, start=pos, stop=stop) if stop < 0 else \
        pc.utf8_slice_codeunits(x, start=pos)


def string_length(args: list[Value], p: dict) -> np.ndarray:
    """Characters per string; missing -> NaN."""
    return k.as_float(pc.utf8_length(k.as_string(args[0])))


def date_part(args: list[Value], p: dict) -> np.ndarray:
    """Calendar part of seconds since the epoch (UTC); missing -> NaN."""
    secs = k.as_float(args[0])
    missing = ~np.isfinite(secs)
    whole = np.floor(np.where(missing, 0.0, secs)).astype(np.int64)
    part = p["part"]
    days = np.floor_divide(whole, 86400)
    in_day = whole - days * 86400
    if part in ("hour", "minute", "second"):
        out = {"hour": in_day // 3600, "minute": in_day % 3600 // 60, "second": in_day % 60}[part]
    elif part == "day_of_week":
        out = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    else:
        d = days.astype("datetime64[D]")
        out = {"year": lambda: d.astype("datetime64[Y]").astype(np.int64) + 1970,
               "month": lambda: d.astype("datetime64[M]").astype(np.int64) % 12 + 1,
               "day": lambda: (d - d.astype("datetime64[M]")).astype(np.int64) + 1,
               "day_of_year": lambda: (d - d.astype("datetime64[Y]")).astype(np.int64) + 1,
               }[part]()
    return _masked(out.astype(np.float64), missing)


NUMERIC_KERNELS = {"compare": compare, "logical": logical, "where": where, "cast": cast,
                   "is_missing": is_missing, "constant": constant}
STRING_KERNELS = {"compare_strings": compare_strings, "as_string": as_string,
                  "string_op": string_op, "string_length": string_length,
                  "date_part": date_part}
#: Run in Arrow/NumPy on every path; the torch module takes their outputs as inputs.
ARROW_ONLY_OPS = frozenset(STRING_KERNELS)
