"""Gristmill orchestrator: pipeline DSL, compiler, runners, cache, MLflow mirror, CLI.

User code says ``from gristmill.orchestrator import Pipeline, LocalDagRunner``.
"""

from gristmill.components.base import Channel
from gristmill.orchestrator.dsl import Pipeline
from gristmill.orchestrator.resolver import (LatestArtifactStrategy, LatestBlessedModelStrategy,
                                             Resolver, ResolverStrategy, SpanRangeStrategy)
from gristmill.orchestrator.runner import (BaseRunner, LocalDagRunner, RunResult,
                                           SequentialRunner)

__all__ = ["BaseRunner", "Channel", "LatestArtifactStrategy", "LatestBlessedModelStrategy",
           "LocalDagRunner", "Pipeline", "Resolver", "ResolverStrategy", "RunResult",
           "SequentialRunner", "SpanRangeStrategy"]
