"""Read-only views of the store for the CLI: runs, one run, artifacts, lineage."""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Any

from rich.markup import escape
from rich.table import Table

from gristmill.metadata.errors import ConfigError
from gristmill.metadata.store import PIPELINE_RUN, MetadataStore
from gristmill.orchestrator.dag_view import build_dag, display_state, layout_dag, render_text


def list_runs(store: MetadataStore, pipeline: str | None) -> list[dict[str, Any]]:
    """Pipeline runs, newest first."""
    runs = []
    for ctx in store.list_contexts(PIPELINE_RUN):
        props = ctx.properties
        if pipeline and props.get("pipeline") != pipeline:
            continue
        start, end = props.get("start_time"), props.get("end_time")
        runs.append({"run_id": ctx.name, "pipeline": props.get("pipeline"),
                     "status": props.get("status"), "started": _when(start),
                     "seconds": round(end - start, 3) if start and end else None})
    return runs


def resolve_run_id(store: MetadataStore, given: str, command: str = "runs show") -> str:
    """The one run id that is ``given`` or starts with it.

    Raises:
        ConfigError: No run matches, or several do (the error lists them).
    """
    names = [ctx.name for ctx in store.list_contexts(PIPELINE_RUN)]
    if given in names:
        return given
    matches = sorted(n for n in names if n.startswith(given))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ConfigError(f"{command}: no run {given!r} (nor one starting with it) in this "
                          "metadata store.", fix="list runs with `gristmill runs`, or pass "
                                                 "--db URL")
    shown = ", ".join(matches[:10]) + (f" and {len(matches) - 10} more" if len(matches) > 10
                                       else "")
    raise ConfigError(f"{command}: run id prefix {given!r} is ambiguous: {len(matches)} runs "
                      f"start with it: {shown}.", fix="give more characters of the run id")


def run_details(store: MetadataStore, run_id: str) -> dict[str, Any]:
    """One run with every execution, its state, timing, inputs and outputs (``run_id`` may
    be a unique prefix)."""
    run_id = resolve_run_id(store, run_id)
    ctx = store.get_context(PIPELINE_RUN, run_id)
    components = []
    for e in store.list_executions(run_id=run_id):
        outputs, inputs = store.get_outputs(e.id), store.get_inputs(e.id)
        components.append({
            "name": e.component_id, "type": e.component_type, "state": e.state.value,
            "display_state": display_state(e.state.value, e.error,
                                           e.custom_properties.get("halt_reason")),
            "execution_id": e.id, "seconds": round(e.seconds, 3) if e.seconds else None,
            "cached_from": e.custom_properties.get("cached_from_execution"), "error": e.error,
            "inputs": {k: [{"id": a.id, "uri": a.uri} for a in v] for k, v in inputs.items()},
            "outputs": {k: [{"id": a.id, "uri": a.uri} for a in v] for k, v in outputs.items()}})
    _add_manual_blessings(store, components)
    return {"run_id": run_id, **ctx.properties, "components": components}


def _add_manual_blessings(store: MetadataStore, components: list[dict[str, Any]]) -> None:
    """``manual_blessings``: lines for the ``gristmill bless`` records of output models."""
    from gristmill.orchestrator.manual_blessing import manual_blessings_of

    ids = {a["id"] for c in components for v in c["outputs"].values() for a in v}
    manual = manual_blessings_of(store, ids)
    for c in components:
        lines = [line for v in c["outputs"].values() for a in v for line in manual.get(a["id"], [])]
        if lines:
            c["manual_blessings"] = lines


def run_graph(run: dict[str, Any]) -> str:
    """The terminal DAG of a run from :func:`run_details` (``runs show ID --graph``)."""
    components = [{**c, "state": c["display_state"],
                   "inputs": {k: [a["id"] for a in v] for k, v in c["inputs"].items()},
                   "outputs": {k: [a["id"] for a in v] for k, v in c["outputs"].items()}}
                  for c in run["components"]]
    layout = layout_dag(*build_dag(components))
    return f"run {run['run_id']} ({run.get('status')})\n{render_text(layout)}"


def list_artifacts(store: MetadataStore, type_name: str | None, producer: str | None
                   ) -> list[dict[str, Any]]:
    """Artifacts, newest first; ``type_name`` in any case (``model`` is ``Model``).

    Raises:
        ConfigError: ``type_name`` is no known artifact type (with a did-you-mean).
    """
    if type_name is not None:
        type_name = resolve_type_name(store, type_name)
    return [{"id": a.id, "type": a.type_name, "uri": a.uri, "state": a.state.value,
             "producer": a.producer_component,
             **({"manual_blessing": a.custom_properties.get("blessing_message")}
                if a.custom_properties.get("manual") else {})}
            for a in store.list_artifacts(type_name=type_name, producer_component=producer)]


def resolve_type_name(store: MetadataStore, given: str) -> str:
    """The artifact type spelled ``given`` in any case, among the standard types and those
    in the store."""
    from gristmill.metadata import standard_artifacts
    from gristmill.metadata.types import Artifact

    known = {cls.TYPE_NAME for cls in vars(standard_artifacts).values()
             if isinstance(cls, type) and issubclass(cls, Artifact)}
    known |= {a.type_name for a in store.list_artifacts()}
    by_lower = {name.lower(): name for name in known}
    if given.lower() in by_lower:
        return by_lower[given.lower()]
    close = difflib.get_close_matches(given.lower(), list(by_lower), n=1)
    hint = f" Did you mean {by_lower[close[0]]!r}?" if close else ""
    raise ConfigError(f"artifacts --type {given!r}: no such artifact type.{hint}",
                      fix=f"use one of {sorted(known)} (any case)")


def lineage(store: MetadataStore, artifact_id: int, direction: str, hops: int
            ) -> dict[str, Any]:
    """The lineage graph around one artifact as plain data."""
    graph = store.get_lineage(artifact_id, direction=direction, hops=hops)
    return {"artifact_id": artifact_id, "direction": direction, "hops": hops,
            "artifacts": [{"id": a.id, "type": a.type_name, "uri": a.uri,
                           "state": a.state.value} for a in graph.artifacts],
            "executions": [{"id": e.id, "component": e.component_id, "state": e.state.value,
                            "run_id": e.run_id} for e in graph.executions],
            "events": [{"execution_id": ev.execution_id, "artifact_id": ev.artifact_id,
                        "type": ev.type.value, "key": ev.key} for ev in graph.events]}


def runs_table(runs: list[dict[str, Any]]) -> Table:
    table = Table("run id", "pipeline", "status", "started", "seconds")
    for r in runs:
        table.add_row(r["run_id"], r["pipeline"], r["status"], r["started"], str(r["seconds"]))
    return table


def run_table(run: dict[str, Any]) -> Table:
    table = Table("component", "state", "seconds", "execution", "outputs / error",
                  title=f"run {run['run_id']} ({run.get('status')})")
    for c in run["components"]:
        detail = c["error"] or ", ".join(f"{k}: #{a['id']}" for k, v in c["outputs"].items()
                                         for a in v)
        detail = "\n".join([detail, *map(escape, c.get("manual_blessings", []))])
        table.add_row(c["name"], c["state"], str(c["seconds"]), str(c["execution_id"]), detail)
    return table


def artifacts_table(artifacts: list[dict[str, Any]]) -> Table:
    table = Table("id", "type", "state", "producer", "uri")
    for a in artifacts:
        producer = a["producer"] or ""
        if a.get("manual_blessing"):
            producer += f" ({escape(a['manual_blessing'])})"
        table.add_row(str(a["id"]), a["type"], a["state"], producer, a["uri"])
    return table


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return ""
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")
