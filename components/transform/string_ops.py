"""String and timestamp ops (``tf.strings.*`` and date parts) for a ``preprocessing_fn``.

They run in Arrow on every path (Beam, serving and ahead of the torch module, which takes
their outputs as inputs). Missing strings stay missing; ``length`` of a missing string is
missing. Lengths and substrings count Unicode characters, not bytes (TF's default unit is
bytes: the same for ASCII text).
"""

from __future__ import annotations

import re

from gristmill.components.transform import analyzer_ops as an
from gristmill.components.transform.elementwise import DATE_PARTS
from gristmill.components.transform.tracing import NUMERIC, Column, _expect
from gristmill.metadata.errors import ConfigError


def _string_op(x: Column, fn: str, label: str, **params) -> Column:
    an.check_column(x, fn)
    node = x.node.graph.add("string_op", [x.node], {"fn": fn, **params}, "string", label)
    _expect(node, x, ("string",), fn)
    return Column(node)


def lower(x: Column) -> Column:
    """Lower-case (Unicode)."""
    return _string_op(x, "lower", f"lower({x.name})")


def upper(x: Column) -> Column:
    """Upper-case (Unicode)."""
    return _string_op(x, "upper", f"upper({x.name})")


def strip(x: Column) -> Column:
    """Remove leading and trailing whitespace."""
    return _string_op(x, "strip", f"strip({x.name})")


def regex_replace(x: Column, pattern: str, rewrite: str, replace_global: bool = True
                  ) -> Column:
    """Replace matches of ``pattern`` (RE2 syntax) by ``rewrite`` (``\\1`` backrefs)."""
    try:
        re.compile(pattern)
    except re.error as e:
        raise ConfigError(f"regex_replace({x.name}): invalid pattern {pattern!r}: {e}.",
                          fix="fix the regular expression") from None
    return _string_op(x, "regex_replace", f"regex_replace({x.name}, {pattern!r})",
                      pattern=pattern, rewrite=rewrite,
                      max_replacements=None if replace_global else 1)


def substr(x: Column, pos: int, len: int) -> Column:  # noqa: A002 - tf.strings.substr's name
    """``len`` characters from ``pos`` (0-based; a negative ``pos`` counts from the end)."""
    if not isinstance(pos, int) or not isinstance(len, int) or len < 0:
        raise ConfigError(f"substr({x.name}): pos and len must be integers, len >= 0, got "
                          f"{pos!r}, {len!r}.", fix="pass e.g. pos=0, len=3")
    return _string_op(x, "substr", f"substr({x.name}, {pos}, {len})", pos=pos, length=len)


def length(x: Column) -> Column:
    """Number of characters, as a float column (missing stays missing)."""
    an.check_column(x, "length")
    node = x.node.graph.add("string_length", [x.node], {}, "float", f"length({x.name})")
    _expect(node, x, ("string",), "length")
    return Column(node)


def date_part(x: Column, part: str) -> Column:
    """A calendar part of a timestamp in seconds since 1970-01-01 UTC, as a float column.

    Args:
        x: Numeric seconds since the epoch (TFX's taxi ``trip_start_timestamp``).
        part: ``year``, ``month`` (1-12), ``day`` (1-31), ``hour``, ``minute``, ``second``,
            ``day_of_week`` (Monday = 0) or ``day_of_year`` (1-366).
    """
    an.check_column(x, "date_part")
    if part not in DATE_PARTS:
        raise ConfigError(f"date_part({x.name}, {part!r}): unknown part.",
                          fix=f"use one of {list(DATE_PARTS)}")
    node = x.node.graph.add("date_part", [x.node], {"part": part}, "float",
                            f"{part}({x.name})")
    _expect(node, x, NUMERIC, "date_part")
    return Column(node)
