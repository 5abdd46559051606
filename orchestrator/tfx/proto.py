"""``tfx.proto``: TFX's config messages as Gristmill's pydantic models.

TFX nests some messages (``PushDestination.Filesystem``, ``SplitConfig.Split``,
``Input.Split``); the classes here are the Gristmill models with those nested names added,
so ``tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(...))`` reads
as in TFX and builds exactly the Gristmill value.
"""

from __future__ import annotations

from typing import ClassVar

import pydantic

from gristmill.components.bulk_inferrer.config import DataSpec
from gristmill.components.distribution_validator.config import (
    DistributionValidatorConfig,
    NumExamplesComparator,
)
from gristmill.components.example_diff.config import ExampleDiffConfig, PairedExampleSkew
from gristmill.components.example_gen import config as example_gen
from gristmill.components.framework.data_schema import FeatureComparator
from gristmill.components.framework.trainer_config import EvalArgs, TrainArgs
from gristmill.components.infra_validator.config import RequestSpec, ServingSpec, ValidationSpec
from gristmill.components.pusher import config as pusher
from gristmill.components.transform.spec import SplitsConfig
from gristmill.metadata.errors import ConfigError
from gristmill.orchestrator.tfx.namespace import refusal

StaticRange = example_gen.StaticRange
RollingRange = example_gen.RollingRange
RangeConfig = example_gen.RangeConfig
Output = example_gen.Output


class SplitConfig(example_gen.SplitConfig):
    """TFX's ``SplitConfig``; ``SplitConfig.Split(name=, hash_buckets=)`` is a split."""

    Split: ClassVar[type] = example_gen.SplitSpec


class Input(example_gen.Input):
    """TFX's ``Input``; ``Input.Split(name=, pattern=)`` is one input split."""

    Split: ClassVar[type] = example_gen.SplitPattern


class PushDestination(pusher.PushDestination):
    """TFX's ``PushDestination``; ``PushDestination.Filesystem(base_directory=...)``."""

    Filesystem: ClassVar[type] = pusher.Filesystem


class TuneArgs(pydantic.BaseModel):
    """TFX's ``TuneArgs``: trials run at once (the Tuner's ``num_parallel_trials``)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    num_parallel_trials: int = pydantic.Field(1, ge=1)


class ModelSpec(pydantic.BaseModel):
    """TFX's BulkInferrer ``ModelSpec``: which signatures to run.

    Gristmill's bundle has one prediction entry point, so the only meaningful values are
    none (the default) or ``['serving_default']``.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    model_signature_name: list[str] = []

    def check_single_signature(self) -> None:
        """Refuse signatures other than the serving one."""
        extra = [s for s in self.model_signature_name if s != "serving_default"]
        if extra:
            raise ConfigError(f"tfx.proto.ModelSpec(model_signature_name={extra}): a Gristmill "
                              "bundle has one prediction signature.",
                              fix="drop model_signature_name (or use ['serving_default'])")


class OutputExampleSpec(pydantic.BaseModel):
    """TFX's ``OutputExampleSpec``: BulkInferrer writes ``output_examples`` either way.

    Renaming the prediction columns is not supported: the output examples hold the input
    columns plus ``prediction`` (and ``probabilities`` for classifiers).
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    output_columns_spec: list[dict] = []

    def check_default_columns(self) -> None:
        """Refuse column renames, which Gristmill would otherwise ignore."""
        if self.output_columns_spec:
            raise ConfigError("tfx.proto.OutputExampleSpec(output_columns_spec=...): column "
                              "names cannot be chosen.",
                              fix="drop output_columns_spec; read the 'prediction' and "
                                  "'probabilities' columns of output_examples")


_REFUSED = {
    "TensorFlowServing": "InfraValidator serves the bundle itself: tfx.proto.ServingSpec()",
    "LocalDockerConfig": "InfraValidator serves the bundle in a local process: "
                         "tfx.proto.ServingSpec()",
    "KubernetesConfig": "InfraValidator serves the bundle in a local process: "
                        "tfx.proto.ServingSpec()",
    "PayloadFormat": "drop it: examples are always Parquet (Arrow)",
    "FileFormat": "drop it: examples are always Parquet (Arrow)",
    "CustomConfig": "pass custom_config as a plain dict",
}


def __getattr__(name: str):
    raise refusal("tfx.proto", name, _REFUSED, __all__)


__all__ = ["TrainArgs", "EvalArgs", "PushDestination", "SplitConfig", "Input", "Output",
           "RangeConfig", "StaticRange", "RollingRange", "SplitsConfig", "DataSpec",
           "ModelSpec", "OutputExampleSpec", "TuneArgs", "ServingSpec", "ValidationSpec",
           "RequestSpec", "ExampleDiffConfig", "PairedExampleSkew",
           "DistributionValidatorConfig", "FeatureComparator", "NumExamplesComparator"]
