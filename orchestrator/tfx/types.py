"""``tfx.types``: ``Channel``, ``Artifact`` and ``standard_artifacts`` (value artifacts too)."""

from __future__ import annotations

from gristmill.orchestrator.tfx.namespace import Namespace, lazy, refusal

_ARTIFACTS = ["Examples", "ExampleStatistics", "Schema", "ExampleAnomalies", "ExamplesDiff",
              "TransformGraph", "TransformCache", "Model", "ModelRun", "HyperParameters",
              "TunerResults", "ModelEvaluation", "ModelBlessing", "InfraBlessing",
              "PushedModel", "InferenceResult"]
_VALUES = ["String", "Integer", "Float", "Boolean", "JsonValue"]

standard_artifacts = Namespace(
    "tfx.types.standard_artifacts",
    {**{n: lazy("gristmill.metadata.standard_artifacts", n) for n in _ARTIFACTS},
     **{n: lazy("gristmill.orchestrator.tfx.value_artifacts", n) for n in _VALUES}},
    {"Bytes": "use tfx.types.standard_artifacts.String (base64) or JsonValue",
     "ExampleValidationMetrics": "ExampleValidator writes ExampleAnomalies only",
     "DataView": "data views are not supported; read Parquet columns directly",
     "Config": "pass configuration as component parameters",
     "ExternalArtifact": "use tfx.dsl.Importer(source_uri=..., artifact_type=...)"})

_NAMES = {"Channel": lazy("gristmill.orchestrator.tfx.dsl", "Channel"),
          "Artifact": lazy("gristmill.metadata.types", "Artifact"),
          "ValueArtifact": lazy("gristmill.orchestrator.tfx.value_artifacts", "ValueArtifact"),
          "standard_artifacts": standard_artifacts}


def __getattr__(name: str):
    if name in _NAMES:
        import importlib

        value = _NAMES[name]
        if isinstance(value, tuple):
            return getattr(importlib.import_module(value[0]), value[1])
        return value
    raise refusal("tfx.types", name, {"BaseChannel": "use tfx.types.Channel",
                                      "Property": "artifacts declare PROPERTIES as a dict"},
                  _NAMES)


__all__ = sorted(_NAMES)
