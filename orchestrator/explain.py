"""Say, for every node, whether the next run hits the cache and why not.

For a miss, the closest earlier execution of the same node (the newest one with recorded
ingredients) is compared ingredient by ingredient, so the answer names the parameter, input,
module file or version that changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from gristmill.metadata.errors import ConfigError
from gristmill.metadata.store import MetadataStore
from gristmill.metadata.types import Artifact, ExecutionState
from gristmill.orchestrator.cache import cache_ingredients, cache_key, describe_changes
from gristmill.orchestrator.compiler import CompiledPipeline
from gristmill.orchestrator.launcher import verify_intact
from gristmill.orchestrator.resolver import resolve_intact
from gristmill.orchestrator.runtime_params import resolve_runtime_parameters


@dataclass
class Explanation:
    """The verdict for one node."""

    node_id: str
    verdict: str  # "hit", "miss", "resolve" or "skip"
    reasons: list[str]
    cached_execution_id: int | None = None

    def to_dict(self) -> dict:
        return {"name": self.node_id, "verdict": self.verdict, "reasons": self.reasons,
                "cached_execution_id": self.cached_execution_id}


def explain(compiled: CompiledPipeline, store: MetadataStore, enable_cache: bool = True,
            selected: list[str] | None = None) -> list[Explanation]:
    """Predict hit or miss for every node, in run order, without running anything.

    Args:
        selected: The nodes a partial run (``--from``/``--to``) would run; the others are
            ``skip`` and lend their latest successful outputs, as the runner does.
    """
    outputs: dict[str, dict[str, list[Artifact]]] = {}
    verdicts: dict[str, Explanation] = {}
    for node_id in compiled.order:
        component = compiled.nodes[node_id].component
        if selected is not None and node_id not in selected:
            verdicts[node_id] = _explain_skipped(compiled, store, node_id, outputs)
            continue
        rerun = [u for u in sorted(compiled.nodes[node_id].upstream)
                 if verdicts[u].verdict == "miss"]
        if rerun:
            verdicts[node_id] = Explanation(node_id, "miss", [
                f"upstream {u} will re-run, so its outputs will be new" for u in rerun])
            continue
        inputs = {k: outputs.get(c.producer_id, {}).get(c.output_key, [])
                  for k, c in component.inputs.items() if c.producer is not None}
        if hasattr(component, "make_artifact"):
            verdicts[node_id] = _explain_import(component, store, outputs)
            continue
        if hasattr(component, "resolve_from_store"):
            verdicts[node_id] = _explain_resolver(compiled, store, component, inputs, outputs)
            continue
        node_cache = component.execution_options.enable_cache
        verdicts[node_id] = _explain_node(compiled, store, component, inputs, outputs,
                                          enable_cache if node_cache is None else node_cache)
    for node_id, verdict in verdicts.items():
        verdict.reasons += [f"inside Cond({p}): skipped at run time if false"
                            for p in compiled.nodes[node_id].component.conditions]
    return [verdicts[n] for n in compiled.order]


def _explain_skipped(compiled, store, node_id: str, outputs) -> Explanation:
    from gristmill.metadata.types import ExecutionState

    executions = store.list_executions(pipeline_name=compiled.pipeline.name,
                                       component_id=node_id,
                                       states=[ExecutionState.COMPLETE, ExecutionState.CACHED])
    if not executions:
        return Explanation(node_id, "skip", ["not selected by --from/--to, and it has never "
                                             "succeeded: a node that needs its outputs would "
                                             "fail; run it first"])
    outputs[node_id] = store.get_outputs(executions[-1].id)
    return Explanation(node_id, "skip", [f"not selected by --from/--to; reuses the outputs of "
                                         f"execution {executions[-1].id}"])


def _explain_resolver(compiled, store, component, inputs, outputs) -> Explanation:
    """Resolve now (reads only), so nodes downstream are judged on what it would pick."""
    resolution = resolve_intact(component, store, compiled.pipeline.name, inputs,
                                retire=False)
    outputs[component.id] = resolution.outputs
    picked = ", ".join(f"{k}: {[a.id for a in v]}" for k, v in resolution.outputs.items())
    return Explanation(component.id, "resolve", [*resolution.retired, (
        f"resolves from the store at run time; now it would pick artifacts {picked}")])


def _explain_import(component, store, outputs) -> Explanation:
    """An Importer 'hits' when an identical LIVE import exists and reimport is off."""
    import os

    from gristmill.metadata.fingerprint import fingerprint_path
    from gristmill.metadata.types import ArtifactState

    if not os.path.exists(component.source_uri):
        return Explanation(component.id, "miss", [f"{component.source_uri} does not exist"])
    fingerprint = fingerprint_path(component.source_uri)
    same = [a for a in store.list_artifacts(type_name=component.artifact_type.TYPE_NAME,
                                            states=[ArtifactState.LIVE])
            if a.uri == component.source_uri and a.fingerprint == fingerprint]
    if same and not component.reimport:
        outputs[component.id] = {"result": same[:1]}
        return Explanation(component.id, "hit", [f"same content as artifact {same[0].id}"])
    reason = "reimport=True" if same else "new or changed content at " + component.source_uri
    return Explanation(component.id, "miss", [reason])


def _explain_node(compiled, store, component, inputs, outputs, enable_cache) -> Explanation:
    try:  # a run-time parameter is part of the key: read it as the run would
        component = resolve_runtime_parameters(component, outputs)
    except ConfigError as e:
        return Explanation(component.id, "miss", [f"run-time parameter: {e}"])
    ingredients = cache_ingredients(component, inputs, compiled.pipeline.name)
    key = cache_key(ingredients)
    if not enable_cache:
        return Explanation(component.id, "miss", ["caching is disabled (--no-cache)"])
    record = store.find_cached_execution(key)
    if record is not None:
        found = store.get_outputs(record.id)
        try:
            for artifacts in found.values():
                for artifact in artifacts:
                    verify_intact(artifact, component.id)
        except Exception as e:
            return Explanation(component.id, "miss", [f"cached outputs unusable: {e}"])
        outputs[component.id] = found
        return Explanation(component.id, "hit", [f"same cache key as execution {record.id}"],
                           record.id)
    earlier = [e for e in store.list_executions(pipeline_name=compiled.pipeline.name,
                                                component_id=component.id)
               if e.cache_ingredients and e.state in (ExecutionState.COMPLETE,
                                                      ExecutionState.CACHED,
                                                      ExecutionState.FAILED)]
    if not earlier:
        return Explanation(component.id, "miss", ["never ran before in this pipeline"])
    closest = earlier[-1]
    changes = describe_changes(closest.cache_ingredients, ingredients)
    if not changes and closest.state == ExecutionState.FAILED:
        changes = [f"the last execution ({closest.id}) failed"]
    return Explanation(component.id, "miss",
                       [f"vs execution {closest.id}: {c}" for c in changes] or
                       ["no successful execution with these ingredients"])
