"""Resolver nodes: pick artifacts from the store (latest, latest blessed model, span range).

As in TFX: ``Resolver(strategy_class=LatestBlessedModelStrategy,
model=Channel(type=Model), model_blessing=Channel(type=ModelBlessing)).with_id("latest")``;
downstream nodes read ``resolver.outputs["model"]``. Free-standing channels (no producer)
are looked up in the store within the pipeline; channels from nodes of this run resolve to
what those nodes produced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from gristmill.components.framework.base import BaseComponent, Channel, InputSpec, OutputSpec
from gristmill.metadata.errors import ConfigError, IntegrityError
from gristmill.metadata.store import PIPELINE, MetadataStore
from gristmill.metadata.types import Artifact, ArtifactState


class ResolverStrategy:
    """Chooses artifacts for each input key of a Resolver."""

    def resolve(self, candidates: Mapping[str, list[Artifact]], store: MetadataStore
                ) -> dict[str, list[Artifact]]:
        """Return output key -> chosen artifacts, given LIVE candidates newest first."""
        raise NotImplementedError


class LatestArtifactStrategy(ResolverStrategy):
    """The newest LIVE artifact of each input."""

    def resolve(self, candidates, store):
        return {key: arts[:1] for key, arts in candidates.items()}


class LatestBlessedModelStrategy(ResolverStrategy):
    """The newest model that an Evaluator blessed (inputs ``model`` and ``model_blessing``).

    An optional input ``candidate`` (e.g. ``trainer.outputs["model"]``) names models to leave
    out: a model is then never its own baseline, and a re-run whose Trainer was cached
    resolves the same baseline as before, so the Evaluator stays cached too.
    """

    def resolve(self, candidates, store):
        exclude = {m.id for m in candidates.get("candidate", [])}
        models = {m.id: m for m in candidates.get("model", []) if m.id not in exclude}
        for blessing in candidates.get("model_blessing", []):
            model_id = blessing.get_custom_property("current_model_id")
            if blessing.get_custom_property("blessed") == 1 and model_id in models:
                return {"model": [models[model_id]], "model_blessing": [blessing]}
        return {"model": [], "model_blessing": []}


class SpanRangeStrategy(ResolverStrategy):
    """Examples whose ``span`` lies in a static or rolling range (newest version per span).

    Args:
        start_span: First span of a static range.
        end_span: Last span of a static range (inclusive).
        num_spans: For a rolling window: the newest N spans.
    """

    def __init__(self, start_span: int | None = None, end_span: int | None = None,
                 num_spans: int | None = None):
        self.start_span, self.end_span, self.num_spans = start_span, end_span, num_spans

    def resolve(self, candidates, store):
        chosen = {}
        for key, arts in candidates.items():
            by_span: dict[int, Artifact] = {}
            for a in arts:  # newest first, so the first seen per span is its newest version
                span = a.get_property("span")
                if span is not None and self._in_static_range(span):
                    best = by_span.get(span)
                    if best is None or (a.get_property("version") or 0) > (
                            best.get_property("version") or 0):
                        by_span[span] = a
            spans = sorted(by_span)
            if self.num_spans:
                spans = spans[-self.num_spans:]
            chosen[key] = [by_span[s] for s in spans]
        return chosen

    def _in_static_range(self, span: int) -> bool:
        return ((self.start_span is None or span >= self.start_span)
                and (self.end_span is None or span <= self.end_span))


class Resolver(BaseComponent):
    """A node that picks existing artifacts instead of producing new ones.

    Args:
        strategy_class: A :class:`ResolverStrategy` subclass (or instance).
        config: Keyword arguments for the strategy's constructor.
        **channels: Input channels by key; outputs mirror them.
    """

    def __init__(self, strategy_class: Any = LatestArtifactStrategy,
                 config: Mapping[str, Any] | None = None, **channels: Channel):
        for key, channel in channels.items():
            if not isinstance(channel, Channel):
                raise ConfigError(f"Resolver({key}=...): expected a Channel, got "
                                  f"{type(channel).__name__}.",
                                  fix=f"pass {key}=Channel(type=<ArtifactType>)")
        self.INPUTS = {k: InputSpec(c.type, optional=True) for k, c in channels.items()}
        self.OUTPUTS = {k: OutputSpec(c.type) for k, c in channels.items()}
        self.strategy = strategy_class(**(config or {})) if isinstance(strategy_class, type) \
            else strategy_class
        super().__init__(**channels)

    def describe_parameters(self) -> dict[str, Any]:
        """What the store records as this node's parameters."""
        return {"strategy": type(self.strategy).__name__, **vars(self.strategy)}

    def resolve_from_store(self, store: MetadataStore, pipeline_name: str,
                           upstream: Mapping[str, Sequence[Artifact]],
                           exclude: Set[int] = frozenset()) -> dict[str, list[Artifact]]:
        """Gather LIVE candidates per key (this pipeline's only; ``exclude`` left out) and
        let the strategy choose.

        A pipeline that has never run has no context yet, so no artifacts of its own: its
        free-standing channels have no candidates (never another pipeline's artifacts).
        """
        pipeline = store.get_context(PIPELINE, pipeline_name)
        candidates: dict[str, list[Artifact]] = {}
        for key, channel in self.inputs.items():
            if channel.producer is not None:
                candidates[key] = list(upstream.get(key, []))
            elif pipeline is None:
                candidates[key] = []
            else:
                candidates[key] = [a for a in store.list_artifacts(
                    type_name=channel.type.TYPE_NAME, states=[ArtifactState.LIVE],
                    context_id=pipeline.id) if a.id not in exclude]
        return self.strategy.resolve(candidates, store)


@dataclass
class Resolution:
    """What a Resolver node picks, and the artifacts it passed over as damaged."""

    outputs: dict[str, list[Artifact]]
    retired: list[str] = field(default_factory=list)


def resolve_intact(component: Resolver, store: MetadataStore, pipeline_name: str,
                   upstream: Mapping[str, Sequence[Artifact]], *, retire: bool,
                   roots: tuple[str, ...] = ()) -> Resolution:
    """The one resolution the run and ``gristmill explain`` share.

    Every artifact picked from the store is checked against its fingerprint; one that was
    deleted or modified after publishing is passed over and the strategy asked again (so
    ``LatestBlessedModelStrategy`` falls back to the previous blessed model). With
    ``retire`` (the run), the damaged artifact is also marked DELETED/ABANDONED in the
    store, so later runs skip it too; explain only reads. ``roots``: where picked artifacts
    may lie (the run's root and Importer sources); one outside is refused before it is read.
    """
    from gristmill.orchestrator import object_store
    from gristmill.orchestrator.launcher import verify_intact

    excluded: set[int] = set()
    retired: list[str] = []
    while True:
        outputs = component.resolve_from_store(store, pipeline_name, upstream, excluded)
        damaged = None
        for key, artifacts in outputs.items():
            if component.inputs[key].producer is not None:
                continue  # produced in this run and checked by resolve_inputs
            for artifact in artifacts:
                try:
                    verify_intact(artifact, component.id, roots)
                except IntegrityError as e:
                    damaged = (artifact, e)
                    break
            if damaged:
                break
        if damaged is None:
            return Resolution(outputs, retired)
        artifact, error = damaged
        excluded.add(artifact.id)
        retired.append(f"{str(error).removesuffix(f' Fix: {error.fix}')} "
                       f"{'Retired it' if retire else 'The run will retire it'} and "
                       "resolved again without it.")
        if retire:
            gone = not object_store.exists(artifact.uri)  # a listing for s3://, gs://...
            store.set_artifact_state(
                artifact.id, ArtifactState.DELETED if gone else ArtifactState.ABANDONED)


def make_channel(type: type[Artifact]) -> Channel:  # noqa: A002 - TFX's keyword
    """A free-standing channel for a Resolver input: ``Channel(type=Model)``."""
    return Channel(type)

