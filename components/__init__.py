"""Gristmill components: typed specs plus executors.

Standard components are imported lazily by attribute so ``import gristmill.components``
stays cheap (the CLI must start in under half a second).
"""

from __future__ import annotations

import importlib
import logging

from gristmill.components.framework.base import (
    BaseComponent,
    Channel,
    InputSpec,
    NodeExecutionOptions,
    OutputSpec,
    Parameters,
)
from gristmill.components.framework.executor import BaseExecutor, ExecutionContext


class _BeamImportNoise(logging.Filter):
    """Beam 2.77 warns on every import that GCP client libraries are absent; we never use
    them, and the line reads like an error to users."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


logging.getLogger().addFilter(_BeamImportNoise())

#: module under gristmill.components -> the public names it defines (docs/api.md lists them
#: all, with their import paths; tests/components/test_api.py keeps the two in step)
_PUBLIC = {
    "example_gen.component": ["CsvExampleGen", "ParquetExampleGen", "JsonExampleGen",
                              "ImportExampleGen", "FileBasedExampleGen", "BeamSourceExampleGen"],
    "example_gen.config": ["Input", "SplitPattern", "Output", "SplitConfig", "SplitSpec",
                           "RangeConfig", "StaticRange", "RollingRange",
                           "FileExampleGenParameters", "CsvExampleGenParameters",
                           "ImportExampleGenParameters", "BeamSourceExampleGenParameters"],
    "statistics_gen.component": ["StatisticsGen"],
    "statistics_gen.config": ["StatisticsGenParameters"],
    "beam.statistics.options": ["StatsOptions"],
    "schema_gen.component": ["SchemaGen", "ImportSchemaGen"],
    "schema_gen.config": ["ImportSchemaGenParameters"],
    "framework.schema_inference": ["SchemaGenParameters"],
    "framework.data_schema": ["FeatureComparator"],
    "example_validator.component": ["ExampleValidator"],
    "example_validator.config": ["ExampleValidatorParameters"],
    "distribution_validator.component": ["DistributionValidator"],
    "distribution_validator.config": ["DistributionValidatorConfig", "NumExamplesComparator",
                                      "DistributionValidatorParameters"],
    "example_diff.component": ["ExampleDiff"],
    "example_diff.config": ["ExampleDiffConfig", "PairedExampleSkew", "ExampleDiffParameters"],
    "transform.component": ["Transform"],
    "transform.spec": ["TransformParameters", "SplitsConfig"],
    "trainer.component": ["Trainer"],
    "trainer.config": ["TrainerParameters"],
    "trainer.run": ["write_model_run", "default_run_fn"],
    "framework.trainer_config": ["TrainerConfig", "TrainArgs", "EvalArgs"],
    "framework.fn_args": ["FnArgs"],
    "tuner.component": ["Tuner"],
    "tuner.config": ["TunerParameters"],
    "tuner.space": ["Dimension"],
    "evaluator.component": ["Evaluator"],
    "evaluator.config": ["EvalConfig", "ModelSpec", "SlicingSpec", "MetricsSpec", "MetricConfig",
                         "MetricThreshold", "GenericValueThreshold", "GenericChangeThreshold",
                         "PerSliceMetricThreshold", "MetricDirection", "Options",
                         "EvaluatorParameters", "FairnessSpec", "AttributionsSpec"],
    "infra_validator.component": ["InfraValidator"],
    "infra_validator.config": ["ServingSpec", "ValidationSpec", "RequestSpec",
                               "InfraValidatorParameters"],
    "pusher.component": ["Pusher"],
    "pusher.config": ["PushDestination", "Filesystem", "Versioning", "PusherParameters",
                      "ModelCardInfo"],
    "bulk_inferrer.component": ["BulkInferrer"],
    "bulk_inferrer.config": ["DataSpec", "BulkInferrerParameters"],
    "framework.function": ["component", "InputArtifact", "OutputArtifact", "Parameter"],
    "framework.container": ["create_container_component", "InputUriPlaceholder",
                            "OutputUriPlaceholder", "InputValuePlaceholder", "ConcatPlaceholder"],
}
#: public name -> module under gristmill.components that defines it (imported on first use)
_LAZY = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = ["BaseComponent", "BaseExecutor", "Channel", "ExecutionContext", "InputSpec",
           "NodeExecutionOptions", "OutputSpec", "Parameters", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f"gristmill.components.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'gristmill.components' has no attribute {name!r}")
