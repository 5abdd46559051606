"""InfraValidator: parameter and config models.

Pydantic only, so pipeline files import them without Beam, torch or MLflow.
"""

from __future__ import annotations

import pydantic

from gristmill.components.framework.base import Parameters


class _Spec(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")


class ServingSpec(_Spec):
    """How to serve. Only a local loader process on ``127.0.0.1`` is supported.

    Attributes:
        model_name: Name reported in the blessing (defaults to the model artifact id).
        host: Bind address; loopback only, the validator never exposes a model.
    """

    model_name: str = ""
    host: str = "127.0.0.1"

    @pydantic.field_validator("host")
    @classmethod
    def _loopback(cls, value: str) -> str:
        if value not in ("127.0.0.1", "localhost"):
            raise ValueError(f"host must be loopback (127.0.0.1), got {value!r}")
        return value


class ValidationSpec(_Spec):
    """Budget per try and number of tries (TFX defaults)."""

    max_loading_time_seconds: float = pydantic.Field(default=300, gt=0)
    num_tries: int = pydantic.Field(default=5, ge=1)


class RequestSpec(_Spec):
    """Which examples become requests: ``num_examples`` rows of ``split_name``."""

    split_name: str | None = None
    num_examples: int = pydantic.Field(default=1, ge=1)


class InfraValidatorParameters(Parameters):
    """InfraValidator parameters."""

    serving_spec: ServingSpec = ServingSpec()
    validation_spec: ValidationSpec = ValidationSpec()
    request_spec: RequestSpec = RequestSpec()
