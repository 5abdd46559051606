"""TFX's value artifacts (``String``, ``Integer``, ``Float``, ``Boolean``, ``JsonValue``).

A value artifact keeps one value in the file ``value`` under its uri, as TFX's
``ValueArtifact`` does: setting ``artifact.value`` in a ``@component`` writes it, reading it
downstream (or in a ``Cond`` predicate through ``.future()[0].value``) reads it back.
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

from gristmill.metadata.errors import DataError
from gristmill.metadata.types import Artifact, register_artifact_type

VALUE_FILE = "value"


class ValueArtifact(Artifact):
    """An artifact whose content is one value of ``VALUE_TYPE``."""

    VALUE_TYPE: ClassVar[tuple[type, ...]] = (object,)

    @property
    def value(self) -> Any:
        """The stored value.

        Raises:
            DataError: The artifact holds no value file (its producer never set it).
        """
        path = os.path.join(self.uri, VALUE_FILE)
        if not os.path.exists(path):
            raise DataError(f"{self.TYPE_NAME} artifact at {self.uri}: no value was written.",
                            uri=self.uri, fix="set artifact.value in the producing component")
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    @value.setter
    def value(self, value: Any) -> None:
        if not isinstance(value, self.VALUE_TYPE) or isinstance(value, bool) != (
                bool in self.VALUE_TYPE):
            raise TypeError(f"{self.TYPE_NAME}.value: expected "
                            f"{' or '.join(t.__name__ for t in self.VALUE_TYPE)}, got "
                            f"{type(value).__name__} {value!r}")
        os.makedirs(self.uri, exist_ok=True)
        with open(os.path.join(self.uri, VALUE_FILE), "w", encoding="utf-8") as f:
            json.dump(value, f)


@register_artifact_type
class String(ValueArtifact):
    """A string value (TFX ``standard_artifacts.String``)."""

    TYPE_NAME = "String"
    VALUE_TYPE = (str,)


@register_artifact_type
class Integer(ValueArtifact):
    """An integer value."""

    TYPE_NAME = "Integer"
    VALUE_TYPE = (int,)


@register_artifact_type
class Float(ValueArtifact):
    """A float value (integers are accepted)."""

    TYPE_NAME = "Float"
    VALUE_TYPE = (float, int)


@register_artifact_type
class Boolean(ValueArtifact):
    """A boolean value."""

    TYPE_NAME = "Boolean"
    VALUE_TYPE = (bool,)


@register_artifact_type
class JsonValue(ValueArtifact):
    """Any JSON value."""

    TYPE_NAME = "JsonValue"
    VALUE_TYPE = (dict, list, str, int, float, type(None))
