"""``tfx.dsl``: Pipeline, Channel, Resolver, Cond, Importer, experimental strategies and the
``@component`` decorator, with TFX's keywords."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gristmill.metadata.errors import ConfigError
from gristmill.orchestrator.tfx.namespace import Namespace, lazy, refusal

_STRATEGIES = "gristmill.orchestrator.resolver"


def Pipeline(pipeline_name: str, pipeline_root: str | None = None,  # noqa: N802 - TFX's name
             components: Sequence[Any] = (), enable_cache: bool = True,
             metadata_connection_config: Any = None,
             beam_pipeline_args: Sequence[str] | None = None, **others: Any) -> Any:
    """TFX's ``tfx.dsl.Pipeline``: returns ``gristmill.orchestrator.Pipeline``.

    Args:
        pipeline_name, pipeline_root, components, enable_cache, beam_pipeline_args: As TFX.
        metadata_connection_config: From
            ``tfx.orchestration.metadata.sqlite_metadata_connection_config(path)``, or a
            SQLAlchemy URL string; ``None`` keeps Gristmill's default store.

    Raises:
        ConfigError: A TFX keyword with no Gristmill meaning (``platform_config`` ...).
    """
    from gristmill.orchestrator.dsl import Pipeline as GristmillPipeline
    from gristmill.orchestrator.tfx.orchestration import metadata_url

    if others:
        raise ConfigError(f"tfx.dsl.Pipeline: keywords {sorted(others)} are not supported.",
                          fix="drop them (execution_mode, platform_config, dsl_context_registry "
                              "have no Gristmill meaning); see docs/tfx_migration.md")
    return GristmillPipeline(name=pipeline_name, components=list(components),
                             root=pipeline_root, enable_cache=enable_cache,
                             metadata_url=metadata_url(metadata_connection_config),
                             beam_pipeline_args=list(beam_pipeline_args or []))


def Channel(type: Any, producer_component_id: str | None = None,  # noqa: A002,N802
            output_key: str | None = None, **others: Any) -> Any:
    """TFX's ``Channel(type=...)``: a free-standing channel for a Resolver.

    ``producer_component_id`` is refused: wire the producer's output channel itself
    (``example_gen.outputs['examples']``), which is what a Gristmill Resolver reads.
    """
    from gristmill.components.framework.base import Channel as GristmillChannel

    if producer_component_id or output_key or others:
        raise ConfigError("tfx.dsl.Channel(producer_component_id=...): a Gristmill channel "
                          "cannot select one producer's history; a free-standing channel reads "
                          "every artifact of its type in the pipeline.",
                          fix="use tfx.dsl.Channel(type=...) alone when one component produces "
                              "that type, or pass example_gen.outputs['examples'] for this "
                              "run's artifact only")
    return GristmillChannel(type)


def Resolver(strategy_class: Any = None, config: dict[str, Any] | None = None,  # noqa: N802
             **channels: Any) -> Any:
    """TFX's ``tfx.dsl.Resolver``; a ``SpanRangeStrategy`` takes TFX's
    ``config={'range_config': tfx.proto.RangeConfig(...)}``.

    Raises:
        ConfigError: A config key the strategy does not take.
    """
    import inspect

    from gristmill.orchestrator import resolver

    strategy = strategy_class or resolver.LatestArtifactStrategy
    config = dict(config or {})
    if strategy is resolver.SpanRangeStrategy and "range_config" in config:
        config.update(_span_window(config.pop("range_config")))
    if isinstance(strategy, type):
        params = inspect.signature(strategy.__init__).parameters.values()
        known = [p.name for p in params if p.name != "self" and p.kind in (
            p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        unknown = sorted(set(config) - set(known))
        if unknown:
            raise ConfigError(f"tfx.dsl.Resolver(config=...): {strategy.__name__} does not take "
                              f"{unknown}.", fix=f"use {known or 'no config'}")
    return resolver.Resolver(strategy_class=strategy, config=config, **channels)


def _span_window(range_config: Any) -> dict[str, Any]:
    """``RangeConfig`` -> SpanRangeStrategy keywords."""
    if range_config.static_range is not None:
        return {"start_span": range_config.static_range.start_span_number,
                "end_span": range_config.static_range.end_span_number}
    if range_config.rolling_range is not None:
        rolling = range_config.rolling_range
        return {"start_span": rolling.start_span_number or None,
                "num_spans": rolling.num_spans}
    return {}


experimental = Namespace("tfx.dsl.experimental", {
    "LatestArtifactStrategy": lazy(_STRATEGIES, "LatestArtifactStrategy"),
    "LatestBlessedModelStrategy": lazy(_STRATEGIES, "LatestBlessedModelStrategy"),
    "SpanRangeStrategy": lazy(_STRATEGIES, "SpanRangeStrategy"),
    "ResolverStrategy": lazy(_STRATEGIES, "ResolverStrategy"),
    "create_container_component": lazy("gristmill.components.framework.container",
                                       "create_container_component"),
}, {"RuntimeParameter": "pass values as create_pipeline() arguments (gristmill run --param)",
    "conditionals": "use tfx.dsl.Cond"})

components = Namespace("tfx.dsl.components", {
    "component": lazy("gristmill.components.framework.function", "component"),
    "Parameter": lazy("gristmill.components.framework.function", "Parameter"),
    "InputArtifact": lazy("gristmill.components.framework.function", "InputArtifact"),
    "OutputArtifact": lazy("gristmill.components.framework.function", "OutputArtifact"),
    "OutputDict": dict,
}, {"BeamComponentParameters": "use context.beam_pipeline_args in a class component",
    "AsyncOutputArtifact": "not supported: outputs are published when the function returns"})

_NAMES = {
    "Cond": lazy("gristmill.orchestrator.dsl", "Cond"),
    "Importer": lazy("gristmill.orchestrator.importer", "Importer"),
}


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        import importlib

        module, attr = _NAMES[name]
        return getattr(importlib.import_module(module), attr)
    raise refusal("tfx.dsl", name, {
        "placeholders": "Gristmill has no placeholders; use channel.future() in tfx.dsl.Cond",
        "io": "read and write files with the standard library under artifact.uri",
        "standard_annotations": "not needed: execution types come from the component"},
        [*_NAMES, "Pipeline", "Channel", "experimental", "components"])


NAMES = ["Pipeline", "Channel", "Cond", "Resolver", "Importer", "experimental", "components"]
