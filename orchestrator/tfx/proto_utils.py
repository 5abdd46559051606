"""``tfx.utils.proto_utils``: the two helpers TFX examples call, for Gristmill's models."""

from __future__ import annotations

import json
from typing import Any

import pydantic


def proto_to_json(message: pydantic.BaseModel) -> str:
    """A config model as JSON (fields left at ``None`` are omitted, as proto JSON does)."""
    return message.model_dump_json(exclude_none=True)


def json_to_proto(json_str: str, message: Any) -> Any:
    """Parse ``json_str`` into the model class (or the class of the instance) ``message``."""
    cls = message if isinstance(message, type) else type(message)
    return cls.model_validate(json.loads(json_str))
