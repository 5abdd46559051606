"""Read-only views of the store for the CLI: runs, one run, artifacts, lineage."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.markup import escape
from rich.table import Table

from gristmill.metadata.errors import ConfigError
from gristmill.metadata.store import PIPELINE_RUN, MetadataStore


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


def run_details(store: MetadataStore, run_id: str) -> dict[str, Any]:
    """One run with every execution, its state, timing and outputs."""
    ctx = store.get_context(PIPELINE_RUN, run_id)
    if ctx is None:
        raise ConfigError(f"runs show: no run {run_id!r} in this metadata store.",
                          fix="list runs with `gristmill runs`, or pass --db URL")
    components = []
    for e in store.list_executions(run_id=run_id):
        outputs = store.get_outputs(e.id)
        components.append({
            "name": e.component_id, "type": e.component_type, "state": e.state.value,
            "execution_id": e.id, "seconds": round(e.seconds, 3) if e.seconds else None,
            "cached_from": e.custom_properties.get("cached_from_execution"), "error": e.error,
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


def list_artifacts(store: MetadataStore, type_name: str | None, producer: str | None
                   ) -> list[dict[str, Any]]:
    """Artifacts, newest first."""
    return [{"id": a.id, "type": a.type_name, "uri": a.uri, "state": a.state.value,
             "producer": a.producer_component,
             **({"manual_blessing": a.custom_properties.get("blessing_message")}
                if a.custom_properties.get("manual") else {})}
            for a in store.list_artifacts(type_name=type_name, producer_component=producer)]


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


def lineage_table(data: dict[str, Any]) -> Table:
    executions = {e["id"]: e for e in data["executions"]}
    artifacts = {a["id"]: a for a in data["artifacts"]}
    table = Table("execution", "component", "event", "key", "artifact", "type", "uri",
                  title=f"lineage of artifact {data['artifact_id']} ({data['direction']}, "
                        f"{data['hops']} hops)")
    for ev in sorted(data["events"], key=lambda ev: (ev["execution_id"], ev["type"])):
        e, a = executions.get(ev["execution_id"], {}), artifacts.get(ev["artifact_id"], {})
        table.add_row(str(ev["execution_id"]), e.get("component", ""), ev["type"], ev["key"],
                      str(ev["artifact_id"]), a.get("type", ""), a.get("uri", ""))
    return table


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return ""
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")
