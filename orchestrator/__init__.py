"""Gristmill orchestrator: pipeline DSL, compiler, runners, cache, MLflow mirror, CLI."""
