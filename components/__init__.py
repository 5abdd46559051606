"""Gristmill components: typed specs plus executors.

Standard components are imported lazily by attribute so ``import gristmill.components``
stays cheap (the CLI must start in under half a second).
"""

from __future__ import annotations

import importlib
import logging

from gristmill.components.base import (
    BaseComponent,
    Channel,
    InputSpec,
    NodeExecutionOptions,
    OutputSpec,
    Parameters,
)
from gristmill.components.executor import BaseExecutor, ExecutionContext


class _BeamImportNoise(logging.Filter):
    """Beam 2.77 warns on every import that GCP client libraries are absent; we never use
    them, and the line reads like an error to users."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


logging.getLogger().addFilter(_BeamImportNoise())

# public name -> module under gristmill.components that defines it
_LAZY = {
    "CsvExampleGen": "example_gen", "ParquetExampleGen": "example_gen",
    "JsonExampleGen": "example_gen", "ImportExampleGen": "example_gen",
    "FileBasedExampleGen": "example_gen", "BeamSourceExampleGen": "example_gen_source",
    "StatisticsGen": "statistics_gen", "SchemaGen": "schema_gen",
    "ImportSchemaGen": "schema_gen", "ExampleValidator": "example_validator",
    "DistributionValidator": "distribution_validator", "ExampleDiff": "example_diff",
    "Transform": "transform", "Trainer": "trainer", "Tuner": "tuner",
    "Evaluator": "evaluator", "InfraValidator": "infra_validator", "Pusher": "pusher",
    "BulkInferrer": "bulk_inferrer", "component": "function",
    "InputArtifact": "function", "OutputArtifact": "function", "Parameter": "function",
    "create_container_component": "container", "InputUriPlaceholder": "container",
    "OutputUriPlaceholder": "container", "InputValuePlaceholder": "container",
    "ConcatPlaceholder": "container",
}

__all__ = ["BaseComponent", "BaseExecutor", "Channel", "ExecutionContext", "InputSpec",
           "NodeExecutionOptions", "OutputSpec", "Parameters", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f"gristmill.components.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'gristmill.components' has no attribute {name!r}")
