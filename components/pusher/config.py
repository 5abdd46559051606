"""Pusher: parameter and config models.

Pydantic only, so pipeline files import them without Beam, torch or MLflow.
"""

from __future__ import annotations

import enum

import pydantic

from gristmill.components.framework.base import Parameters


class Versioning(str, enum.Enum):
    """How pushed versions are named: ``AUTO`` = 1, 2, 3 ...; ``UNIX_TIMESTAMP`` = seconds."""

    AUTO = "AUTO"
    UNIX_TIMESTAMP = "UNIX_TIMESTAMP"


class Filesystem(pydantic.BaseModel):
    """A filesystem destination: versions become sub-directories of ``base_directory``."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    base_directory: str
    versioning: Versioning = Versioning.AUTO


class PushDestination(pydantic.BaseModel):
    """Where to push (TFX's ``PushDestination``)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    filesystem: Filesystem


class PusherParameters(Parameters):
    """Pusher parameters.

    Attributes:
        push_destination: The versioned filesystem destination.
        registered_model_name: MLflow registered model name; default: the pipeline name.
        alias: Registry alias moved to the pushed version.
    """

    push_destination: PushDestination
    registered_model_name: str | None = None
    alias: str = "champion"
