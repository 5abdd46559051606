"""The artifact types of the standard components, with TFX's names."""

from __future__ import annotations

import re

from gristmill.metadata.errors import ConfigError
from gristmill.metadata.types import Artifact, register_artifact_type

# Split names become directory names under the artifact's uri: no "/" and no leading ".".
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")


class _SplitsMixin:
    """Artifacts that hold one sub-directory per split: ``Split-<name>/``."""

    @property
    def splits(self) -> list[str]:
        """The split names, e.g. ``["train", "eval"]``."""
        return list(self.get_property("split_names") or [])  # type: ignore[attr-defined]

    @splits.setter
    def splits(self, names: list[str]) -> None:
        self.set_property("split_names", list(names))  # type: ignore[attr-defined]

    def split_uri(self, split: str) -> str:
        """Directory of one split's files.

        Raises:
            ConfigError: ``split`` could leave the artifact's directory (``/``, ``..``).
        """
        if not isinstance(split, str) or not _SPLIT_NAME.match(split):
            raise ConfigError(
                f"{self.TYPE_NAME} at {self.uri}: invalid split name {split!r}; expected "  # type: ignore[attr-defined]
                "letters, digits, '_', '.', '-' (no '/' and not starting with '.').",
                fix="name splits like 'train', 'eval' or 'test_2024'")
        return f"{self.uri}/Split-{split}"  # type: ignore[attr-defined]


@register_artifact_type
class Examples(_SplitsMixin, Artifact):
    """Parquet files per split, ``Split-<name>/*.parquet``."""

    TYPE_NAME = "Examples"
    PROPERTIES = {"split_names": "json", "span": "int", "version": "int",
                  "input_fingerprint": "str", "row_counts": "json"}


@register_artifact_type
class ExampleStatistics(_SplitsMixin, Artifact):
    """Per-split statistics as JSON plus an HTML report."""

    TYPE_NAME = "ExampleStatistics"
    PROPERTIES = {"split_names": "json", "span": "int"}


@register_artifact_type
class Schema(Artifact):
    """A human-editable schema file, ``schema.yaml``."""

    TYPE_NAME = "Schema"


@register_artifact_type
class ExampleAnomalies(_SplitsMixin, Artifact):
    """Anomalies per split as JSON plus an HTML report."""

    TYPE_NAME = "ExampleAnomalies"
    PROPERTIES = {"split_names": "json", "span": "int"}


@register_artifact_type
class ExamplesDiff(Artifact):
    """Feature-level differences between paired examples of two Examples artifacts, per
    split pair, as JSON plus an HTML report."""

    TYPE_NAME = "ExamplesDiff"
    PROPERTIES = {"split_pairs": "json"}


@register_artifact_type
class TransformGraph(Artifact):
    """A fitted preprocessing plan (JSON), vocabularies and a torch module."""

    TYPE_NAME = "TransformGraph"


@register_artifact_type
class TransformCache(Artifact):
    """Analyzer accumulators per span, reusable by the next Transform run."""

    TYPE_NAME = "TransformCache"


@register_artifact_type
class Model(Artifact):
    """A serving bundle: takes raw records, returns predictions."""

    TYPE_NAME = "Model"


@register_artifact_type
class ModelRun(Artifact):
    """Training curves and logs."""

    TYPE_NAME = "ModelRun"


@register_artifact_type
class HyperParameters(Artifact):
    """Best hyperparameters as JSON."""

    TYPE_NAME = "HyperParameters"


@register_artifact_type
class TunerResults(Artifact):
    """All tuning trials as JSON."""

    TYPE_NAME = "TunerResults"


@register_artifact_type
class ModelEvaluation(Artifact):
    """Metrics per slice as JSON plus an HTML report."""

    TYPE_NAME = "ModelEvaluation"


@register_artifact_type
class ModelBlessing(Artifact):
    """Whether the Evaluator blessed a model; custom property ``blessed`` is 1 or 0."""

    TYPE_NAME = "ModelBlessing"


@register_artifact_type
class InfraBlessing(Artifact):
    """Whether the model loaded and answered for real; custom property ``blessed``."""

    TYPE_NAME = "InfraBlessing"


@register_artifact_type
class PushedModel(Artifact):
    """Where a model was pushed; custom properties ``pushed``, ``pushed_destination``."""

    TYPE_NAME = "PushedModel"


@register_artifact_type
class InferenceResult(Artifact):
    """Batch predictions as Parquet."""

    TYPE_NAME = "InferenceResult"


__all__ = ["Artifact", "ExampleAnomalies", "ExampleStatistics", "Examples", "HyperParameters",
           "InferenceResult", "InfraBlessing", "Model", "ModelBlessing", "ModelEvaluation",
           "ModelRun", "PushedModel", "Schema", "TransformCache", "TransformGraph", "TunerResults"]
