"""``schema.yaml``'s text without PyYAML's pure-Python representer for the common case.

PyYAML's representer walks the data in Python even over libyaml's C emitter: ~0.9 s of
SchemaGen's 1.2 CPU-s at 5,000 features. :func:`dump_yaml` writes the block-style text of
mappings of plain scalars, lists of scalars and nested such mappings directly, byte for byte
what ``yaml.dump(data, sort_keys=False, allow_unicode=True)`` writes; an item holding
anything else (a string that needs quoting or escaping, NaN, a long key) is written by PyYAML
itself, so the text never differs.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_DUMP_ARGS = {"Dumper": getattr(yaml, "CSafeDumper", yaml.SafeDumper), "sort_keys": False,
              "allow_unicode": True}

#: Strings PyYAML writes plain at any column: a letter or underscore, then letters, digits
#: and underscores (none of its resolvers reads such a string as a number or a date).
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: ... except the words its resolver reads as a bool or null: PyYAML single-quotes them.
_QUOTED = frozenset(w for word in ("yes", "no", "true", "false", "on", "off", "null")
                    for w in (word, word.capitalize(), word.upper()))


def _float_text(value: float) -> str:
    """``yaml.SafeRepresenter.represent_float`` of a finite float."""
    text = repr(value).lower()
    return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text


def _scalar(value: Any) -> str | None:
    """``value`` as PyYAML writes it, or ``None`` when PyYAML must decide."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is float:
        return _float_text(value) if value - value == 0 else None  # NaN, +/-Inf: PyYAML
    if kind is str and (value == "" or _PLAIN.match(value)):
        return f"'{value}'" if value == "" or value in _QUOTED else value
    return None


def _list_lines(values: list, indent: str, lines: list[str]) -> bool:
    for element in values:
        text = _scalar(element)
        if text is None:
            return False
        lines.append(f"{indent}- {text}")
    return True


def _mapping_lines(item: dict, indent: str, first: str, lines: list[str]) -> bool:
    """Append the block-style lines of ``item`` (the first line starts with ``first``, the
    others with ``indent``); ``False``, lines partly written, for what PyYAML must write."""
    lead = first
    for key, value in item.items():
        key = _scalar(key) if type(key) is str and len(key) <= 100 else None
        if key is None:  # PyYAML writes keys over 128 characters as "? key"
            return False
        kind = type(value)
        if kind in (dict, list) and not value:
            lines.append(f"{lead}{key}: {'{}' if kind is dict else '[]'}")
        elif kind is dict:
            lines.append(f"{lead}{key}:")
            if not _mapping_lines(value, indent + "  ", indent + "  ", lines):
                return False
        elif kind is list:
            lines.append(f"{lead}{key}:")
            if not _list_lines(value, indent, lines):  # PyYAML does not indent these
                return False
        elif (text := _scalar(value)) is not None:
            lines.append(f"{lead}{key}: {text}")
        else:
            return False
        lead = indent
    return True


def dump_yaml(data: dict) -> str:
    """``yaml.dump(data, sort_keys=False, allow_unicode=True)`` (block style), the same text;
    items of a top-level list of mappings that hold anything but plain scalars, lists of
    them and such mappings are written by PyYAML one by one, anything else at the top level
    by PyYAML whole."""
    lines: list[str] = []
    for key, value in data.items():
        if type(value) is list and value and all(type(v) is dict and v for v in value) \
                and _scalar(key) == key:
            lines.append(f"{key}:")
            for item in value:
                mark = len(lines)
                if not _mapping_lines(item, "  ", "- ", lines):
                    del lines[mark:]
                    lines.append(yaml.dump([item], **_DUMP_ARGS).rstrip("\n"))
        elif not _mapping_lines({key: value}, "", "", lines):
            return yaml.dump(data, **_DUMP_ARGS)
    return "\n".join(lines) + "\n" if lines else yaml.dump(data, **_DUMP_ARGS)
