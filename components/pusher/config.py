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

    @pydantic.field_validator("base_directory")
    @classmethod
    def _a_filesystem_path(cls, value: str) -> str:
        if "://" in value:  # os.makedirs would make a local folder named "s3:" instead
            from gristmill.metadata.errors import ConfigError

            raise ConfigError(
                f"Pusher: push_destination base_directory {value!r} is a URL; the Pusher "
                "publishes each version by an atomic rename of a local or mounted directory, "
                "which object stores do not offer.",
                fix="push to a local or mounted path (a PVC, NFS, gcsfuse, s3fs-fuse) that "
                    "the serving system reads; artifact roots may be object-store URLs")
        return value


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
