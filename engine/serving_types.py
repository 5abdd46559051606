"""Safe widening of one raw input column to the type it had in training (serving only).

The rules are listed in :mod:`gristmill.engine.serving_input`; this module applies them to
one Arrow array with pyarrow compute kernels and refuses, with the column named, what
cannot be taken without changing its meaning.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from gristmill.engine.errors import DataError

_TARGET = {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_(),
           "string": pa.string()}


def widen(array: pa.Array, spec: Any, source: str) -> tuple[pa.Array, str | None]:
    """``(array as training saw it, note of what changed or None)``.

    Args:
        array: One input column.
        spec: Its :class:`~gristmill.engine.serving_input.RawInput`.
        source: Who is asking, for the error message.

    Raises:
        DataError: The values cannot be taken safely.
    """
    note_prefix = ""
    if pa.types.is_dictionary(array.type):
        array, note_prefix = array.dictionary_decode(), "dictionary decoded; "
    found = array.type
    if spec.kind not in _TARGET:
        return array, None
    if pa.types.is_null(found):
        return pa.nulls(len(array), _TARGET[spec.kind]), f"all-null column -> {spec.kind}"
    handler = {"integer": _to_integer, "number": _to_number, "boolean": _to_boolean,
               "string": _to_string}[spec.kind]
    out, note = handler(array, spec, source)
    if note_prefix and note is None:
        note = note_prefix.rstrip("; ")
    elif note_prefix:
        note = note_prefix + note
    return out, note


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _refuse(spec: Any, array: pa.Array, source: str, detail: str = "") -> DataError:
    expected = {"integer": "integers", "number": "numbers", "boolean": "booleans",
                "string": "strings"}[spec.kind]
    return DataError(f"{source}: raw column {spec.name!r} was {spec.arrow_type} in training "
                     f"(takes {expected}); got {array.type}{detail}.",
                     fix=f"send {spec.name!r} as {expected} (null when a value is unknown), "
                         f"as in the training data")


def _to_number(array: pa.Array, spec: Any, source: str) -> tuple[pa.Array, str | None]:
    if _is_number(array.type) or pa.types.is_boolean(array.type):
        return array, None  # the encoder and the transform read any numeric type
    if _is_text(array.type):
        return _parse_text(array, spec, source, pa.float64())
    raise _refuse(spec, array, source)


def _to_integer(array: pa.Array, spec: Any, source: str) -> tuple[pa.Array, str | None]:
    if pa.types.is_integer(array.type):
        return array, None
    if pa.types.is_boolean(array.type):
        return pc.cast(array, pa.int64()), "bool -> int64"
    if _is_text(array.type):
        array, note = _parse_text(array, spec, source, pa.float64())
        whole, _ = _whole_numbers(array, spec, source)
        return whole, f"{note}, whole numbers -> int64"
    if pa.types.is_floating(array.type) or pa.types.is_decimal(array.type):
        return _whole_numbers(array, spec, source)
    raise _refuse(spec, array, source)


def _whole_numbers(array: pa.Array, spec: Any, source: str) -> tuple[pa.Array, str]:
    found = array.type
    if pa.types.is_floating(found):  # pandas writes a missing integer as NaN
        array = pc.if_else(pc.is_nan(array), pa.scalar(None, found), array)
    try:
        return pc.cast(array, pa.int64()), f"{found} -> int64 (whole numbers)"
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = array.to_pylist()
        row = next((i for i, v in enumerate(values)
                    if v is not None and (float(v) != int(float(v)) if abs(float(v)) < 2 ** 63
                                          else True)), 0)
        raise _refuse(spec, array, source, f" holding {values[row]!r} (row {row}), which an "
                                           "integer column cannot hold") from None


def _to_boolean(array: pa.Array, spec: Any, source: str) -> tuple[pa.Array, str | None]:
    found = array.type
    if pa.types.is_boolean(found):
        return array, None
    if _is_number(found):
        values = pc.drop_null(array)
        bad = pc.invert(pc.is_in(pc.cast(values, pa.float64()), pa.array([0.0, 1.0])))
        if len(values) and pc.any(bad).as_py():
            sample = pc.filter(values, bad)[0].as_py()
            raise _refuse(spec, array, source, f" holding {sample!r}, not 0 or 1")
        return pc.not_equal(pc.cast(array, pa.float64()), 0.0), f"{found} 0/1 -> bool"
    if _is_text(found):
        cleaned, blanks = _blanks_to_null(array)
        try:
            out = pc.cast(cleaned, pa.bool_())
        except pa.ArrowInvalid:
            raise _refuse(spec, array, source, f" holding text {_first_bad(cleaned, bool)!r}"
                          ) from None
        return out, f"{found} -> bool ({blanks} blank cell(s) -> null)"
    raise _refuse(spec, array, source)


def _to_string(array: pa.Array, spec: Any, source: str) -> tuple[pa.Array, str | None]:
    found = array.type
    if pa.types.is_string(found):
        return array, None
    if _is_text(found) or pa.types.is_boolean(found) or pa.types.is_integer(found) \
            or pa.types.is_decimal(found):
        return pc.cast(array, pa.string()), f"{found} -> string"
    if pa.types.is_floating(found):
        # 3.0 is written "3" (as an integer column would be); NaN is a missing value.
        array = pc.if_else(pc.is_nan(array), pa.scalar(None, found), array)
        return pc.cast(array, pa.string()), f"{found} -> string"
    raise _refuse(spec, array, source)


def _blanks_to_null(array: pa.Array) -> tuple[pa.Array, int]:
    text = pc.utf8_trim_whitespace(pc.cast(array, pa.string()))
    blank = pc.fill_null(pc.equal(text, ""), False)
    count = int(pc.sum(blank).as_py() or 0)
    return pc.if_else(blank, pa.scalar(None, pa.string()), text), count


def _parse_text(array: pa.Array, spec: Any, source: str, target: pa.DataType
                ) -> tuple[pa.Array, str]:
    cleaned, blanks = _blanks_to_null(array)
    try:
        out = pc.cast(cleaned, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise _refuse(spec, array, source, f" holding text {_first_bad(cleaned, float)!r}"
                      ) from None
    return out, f"{array.type} -> {target} ({blanks} blank cell(s) -> null)"


def _first_bad(array: pa.Array, parse: type) -> Any:
    for value in array.to_pylist():
        if value is None:
            continue
        if parse is bool:
            if value.lower() not in ("true", "false", "1", "0"):
                return value
            continue
        try:
            float(value)
        except ValueError:
            return value
    return None


def clean_value(value: Any, spec: Any, source: str, row: int) -> Any:
    """One JSON-like value, widened like :func:`widen` widens a column (records path).

    Returns the value as training saw it (``float``/``int``/``bool``/``str``) or ``None``.

    Raises:
        DataError: naming the column, the record and the value.
    """
    if value is None or spec.kind not in _TARGET:
        return value
    if isinstance(value, float) and value != value:  # NaN is a missing value
        return None
    try:
        return _CLEANERS[spec.kind](value)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{source}: raw column {spec.name!r} was {spec.arrow_type} in training; "
                        f"record {row} holds {value!r} ({type(value).__name__}), which it "
                        "cannot take safely.",
                        fix=f"send {spec.name!r} as "
                            f"{_WORDS[spec.kind]} (null when a value is unknown)") from None


_WORDS = {"integer": "an integer", "number": "a number", "boolean": "a boolean",
          "string": "a string"}


def _blank(value: str) -> bool:
    return not value.strip()


def _clean_number(value: Any) -> float | None:
    if isinstance(value, str):
        return None if _blank(value) else float(value.strip())
    if isinstance(value, (bool, int, float)):
        return float(value)
    raise TypeError


def _clean_integer(value: Any) -> int | None:
    if isinstance(value, str):
        if _blank(value):
            return None
        value = float(value.strip())
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError


def _clean_boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        return {"true": True, "false": False, "1": True, "0": False}[text] \
            if text in ("true", "false", "1", "0") else _raise()
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise ValueError


def _clean_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    raise TypeError


def _raise() -> Any:
    raise ValueError


_CLEANERS = {"integer": _clean_integer, "number": _clean_number, "boolean": _clean_boolean,
             "string": _clean_string}
