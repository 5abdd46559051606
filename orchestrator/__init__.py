"""Gristmill orchestrator: pipeline DSL, compiler, runners, cache, MLflow mirror, CLI.

User code says ``from gristmill.orchestrator import Pipeline, LocalDagRunner``. Names are
imported on first use so the CLI starts fast.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Channel": "gristmill.components.framework.base", "Pipeline": "gristmill.orchestrator.dsl",
    "Cond": "gristmill.orchestrator.dsl",
    "logical_and": "gristmill.components.framework.conditions",
    "logical_or": "gristmill.components.framework.conditions",
    "logical_not": "gristmill.components.framework.conditions",
    "Importer": "gristmill.orchestrator.importer",
    "Resolver": "gristmill.orchestrator.resolver",
    "ResolverStrategy": "gristmill.orchestrator.resolver",
    "LatestArtifactStrategy": "gristmill.orchestrator.resolver",
    "LatestBlessedModelStrategy": "gristmill.orchestrator.resolver",
    "SpanRangeStrategy": "gristmill.orchestrator.resolver",
    "BaseRunner": "gristmill.orchestrator.runner",
    "LocalDagRunner": "gristmill.orchestrator.runner",
    "SequentialRunner": "gristmill.orchestrator.runner",
    "RunResult": "gristmill.orchestrator.runner",
    "RayDagRunner": "gristmill.orchestrator.ray_runner",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gristmill.orchestrator' has no attribute {name!r}")
