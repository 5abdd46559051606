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


class ModelCardInfo(pydantic.BaseModel):
    """What only the pipeline's authors can say about a model, shown on its model card.

    Everything else on the card (data, schema, metrics, fairness, attributions, lineage,
    blessing) is read from the Pusher's inputs. A field left empty is shown as "not
    stated", never left out, so a reader sees what was not written down.

    Attributes:
        intended_use: Who should use the model, for what decisions.
        limitations: Known weak spots: populations, ranges or uses it was not checked on.
        owners: People or teams answerable for the model (names or e-mail addresses).
        ethical_considerations: Risks, sensitive features, mitigations.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    intended_use: str = ""
    limitations: str = ""
    owners: list[str] = []
    ethical_considerations: str = ""


class PusherParameters(Parameters):
    """Pusher parameters.

    Attributes:
        push_destination: The versioned filesystem destination.
        registered_model_name: MLflow registered model name; default: the pipeline name.
        alias: Registry alias moved to the pushed version.
        model_card: Intended use, limitations and owners for ``model_card.html``.
    """

    push_destination: PushDestination
    registered_model_name: str | None = None
    alias: str = "champion"
    model_card: ModelCardInfo = ModelCardInfo()
