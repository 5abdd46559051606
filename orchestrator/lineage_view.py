"""Lineage as people read it: a tree in the terminal, a table on each MLflow component run.

:func:`render_tree` draws ``gristmill lineage ID`` from the store's lineage graph
(``Model #56 <- Trainer <- examples: Examples #49 <- Transform ...``);
:func:`render_node_markdown` and :func:`render_node_html` draw the input/output table of one
component run, each artifact linked to the runs that produced and consumed it in the same
pipeline run (:func:`artifact_flow` works that out from the mirror journal).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The CLI's short direction names and the store's long ones.
DIRECTIONS = {"up": "upstream", "down": "downstream", "both": "both",
              "upstream": "upstream", "downstream": "downstream"}


def render_tree(data: Mapping[str, Any]) -> str:
    """The lineage of one artifact as an indented tree.

    Args:
        data: :func:`gristmill.orchestrator.inspect_store.lineage`'s result (artifacts,
            executions, events, artifact_id, direction, hops).

    Returns:
        Text: ``upstream`` walks ``<-`` from an artifact to the execution that made it and
        that execution's inputs; ``downstream`` walks ``->`` to the executions that read it
        and their outputs. A subtree met twice is drawn once (``shown above``); a branch cut
        by ``--hops`` says so.
    """
    artifacts = {a["id"]: a for a in data["artifacts"]}
    executions = {e["id"]: e for e in data["executions"]}
    events = data["events"]
    root = data["artifact_id"]
    lines = []
    for direction in ("upstream", "downstream"):
        if data["direction"] not in (direction, "both"):
            continue
        if data["direction"] == "both":
            lines.append(f"{direction} ({'made from' if direction == 'upstream' else 'fed'}):")
        walker = _TreeWalker(artifacts, executions, events, data["hops"],
                             upstream=direction == "upstream")
        lines += walker.draw(root)
    return "\n".join(lines)


@dataclass
class _TreeWalker:
    artifacts: dict[int, dict[str, Any]]
    executions: dict[int, dict[str, Any]]
    events: list[dict[str, Any]]
    hops: int
    upstream: bool
    seen: set[int] = field(default_factory=set)

    def draw(self, artifact_id: int) -> list[str]:
        lines = [self._artifact_label(artifact_id, key=None)]
        self._children(artifact_id, "", 0, lines)
        return lines

    def _artifact_label(self, artifact_id: int, key: str | None) -> str:
        a = self.artifacts.get(artifact_id, {})
        state = "" if a.get("state") in (None, "LIVE") else f" [{a['state']}]"
        return f"{key + ': ' if key else ''}{a.get('type', 'Artifact')} #{artifact_id}{state}"

    def _execution_label(self, execution_id: int) -> str:
        e = self.executions.get(execution_id, {})
        arrow = "<-" if self.upstream else "->"
        return (f"{arrow} {e.get('component', '?')}  execution #{execution_id} "
                f"{e.get('state', '')}  run {e.get('run_id', '')}").rstrip()

    def _children(self, artifact_id: int, indent: str, depth: int, lines: list[str]) -> None:
        link = "OUTPUT" if self.upstream else "INPUT"
        execution_ids = sorted({ev["execution_id"] for ev in self.events
                                if ev["artifact_id"] == artifact_id and ev["type"] == link})
        if not execution_ids and depth >= self.hops:
            lines.append(f"{indent}\u2514\u2500 \u2026 (stopped at --hops {self.hops})")
        for i, execution_id in enumerate(execution_ids):
            last = i == len(execution_ids) - 1
            lines.append(f"{indent}{_branch(last)}{self._execution_label(execution_id)}")
            inner = indent + ("   " if last else "\u2502  ")
            state = self.executions.get(execution_id, {}).get("state")
            if self.upstream and state == "CACHED":
                lines.append(f"{inner}\u2514\u2500 (reused this artifact from cache; its "
                             "maker is listed beside it)")
                continue
            if execution_id in self.seen:
                lines.append(f"{inner}\u2514\u2500 (shown above)")
                continue
            self.seen.add(execution_id)
            self._next_artifacts(execution_id, inner, depth + 1, lines)

    def _next_artifacts(self, execution_id: int, indent: str, depth: int,
                        lines: list[str]) -> None:
        link = "INPUT" if self.upstream else "OUTPUT"
        found = [(ev["key"], ev["artifact_id"]) for ev in self.events
                 if ev["execution_id"] == execution_id and ev["type"] == link]
        for i, (key, artifact_id) in enumerate(found):
            last = i == len(found) - 1
            lines.append(f"{indent}{_branch(last)}{self._artifact_label(artifact_id, key)}")
            self._children(artifact_id, indent + ("   " if last else "\u2502  "), depth,
                           lines)


def _branch(last: bool) -> str:
    return "\u2514\u2500 " if last else "\u251c\u2500 "


@dataclass(frozen=True)
class ArtifactUse:
    """One artifact seen from one component run: its key and who made and read it."""

    key: str
    artifact_id: int
    type_name: str
    uri: str
    producer: str | None  # node id in this pipeline run, None when made by an earlier run
    consumers: tuple[str, ...]


def artifact_flow(events: list[dict[str, Any]]) -> dict[str, dict[str, list[ArtifactUse]]]:
    """Per node of a mirror journal: ``{"inputs": [...], "outputs": [...]}``."""
    ended = {e["node"]: e for e in events if e.get("op") == "end_node"}
    producers: dict[int, str] = {}
    consumers: dict[int, list[str]] = {}
    for node, e in ended.items():
        for refs in (e.get("outputs") or {}).values():
            for ref in refs:
                producers.setdefault(ref["id"], node)
        for refs in (e.get("inputs") or {}).values():
            for ref in refs:
                consumers.setdefault(ref["id"], []).append(node)
    flow = {}
    for node, e in ended.items():
        flow[node] = {side: [ArtifactUse(key, ref["id"], ref.get("type") or "", ref.get("uri")
                                         or "", producers.get(ref["id"]),
                                         tuple(consumers.get(ref["id"], ())))
                             for key, refs in (e.get(side) or {}).items() for ref in refs]
                      for side in ("inputs", "outputs")}
    return flow


def render_node_markdown(node: str, flow: Mapping[str, list[ArtifactUse]],
                         links: Mapping[str, str]) -> str:
    """A component run's description: its inputs (with their makers) and outputs (with
    their readers), each run name a link to that run."""
    def run_link(name: str | None) -> str:
        if name is None:
            return "an earlier pipeline run"
        return f"[{name}]({links[name]})" if name in links else name

    lines = [f"### Lineage of {node}", ""]
    for side, who in (("inputs", "made by"), ("outputs", "read by")):
        lines += [f"**{side.capitalize()}**", ""]
        if not flow[side]:
            lines += ["(none)", ""]
            continue
        lines += [f"| key | artifact | type | {who} | uri |", "|---|---|---|---|---|"]
        for use in flow[side]:
            names = [use.producer] if side == "inputs" else list(use.consumers)
            who_text = ", ".join(run_link(n) for n in names) or "nothing in this run"
            lines.append(f"| {use.key} | #{use.artifact_id} | {use.type_name} | {who_text} | "
                         f"`{use.uri}` |")
        lines.append("")
    return "\n".join(lines)


def render_node_html(node: str, flow: Mapping[str, list[ArtifactUse]],
                     links: Mapping[str, str], link_prefix: str = "/") -> str:
    """The same table as a self-contained HTML page (``lineage.html``)."""
    def run_link(name: str | None) -> str:
        if name is None:
            return "an earlier pipeline run"
        if name not in links:
            return html.escape(name)
        return f'<a href="{html.escape(link_prefix + links[name])}" target="_blank">' \
               f'{html.escape(name)}</a>'

    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Lineage of "
             f"{html.escape(node)}</title><style>body{{font-family:sans-serif;margin:12px}}"
             "table{border-collapse:collapse;margin-bottom:16px}td,th{border:1px solid #ccc;"
             "padding:4px 8px;text-align:left}th{background:#f3f3f3}</style></head><body>"
             f"<h3>Lineage of {html.escape(node)}</h3>"]
    for side, who in (("inputs", "made by"), ("outputs", "read by")):
        parts.append(f"<h4>{side.capitalize()}</h4>")
        if not flow[side]:
            parts.append("<p>(none)</p>")
            continue
        parts.append(f"<table><tr><th>key</th><th>artifact</th><th>type</th><th>{who}</th>"
                     "<th>uri</th></tr>")
        for use in flow[side]:
            names = [use.producer] if side == "inputs" else list(use.consumers)
            who_html = ", ".join(run_link(n) for n in names) or "nothing in this run"
            parts.append(f"<tr><td>{html.escape(use.key)}</td><td>#{use.artifact_id}</td>"
                         f"<td>{html.escape(use.type_name)}</td><td>{who_html}</td>"
                         f"<td><code>{html.escape(use.uri)}</code></td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)


def link_model_versions(client, events: list[dict[str, Any]], node_runs: Mapping[str, str],
                        links: Mapping[str, str], where: str) -> list[tuple[str, str]]:
    """Describe each model version a Pusher of this run registered, linking its runs.

    The version's own ``run_id`` (MLflow's "Source run" link) is set when the Pusher creates
    it, from the Trainer run the mirror opened early; a model from an earlier pipeline run
    has none. This adds a description linking the Trainer's and Pusher's MLflow runs, and
    the tag ``gristmill.source_mlflow_run_id``.

    Args:
        client: An ``MlflowClient`` on the tracking store the versions live in.
        events: The mirror journal.
        node_runs: Node id -> its MLflow run id.
        links: Node id -> UI route of its run.
        where: Names the pipeline run in the description.

    Returns:
        ``(name version N, Markdown line)`` per version registered in this run (a cached
        Pusher's version belongs to the run that registered it and is left as it is).
    """
    ended = [e for e in events if e.get("op") == "end_node"]
    producers = {ref["id"]: e["node"] for e in ended
                 for refs in (e.get("outputs") or {}).values() for ref in refs}
    found = []
    for e in (e for e in ended if e.get("state") == "COMPLETE"):  # a cache hit registered
        for ref in (r for refs in (e.get("outputs") or {}).values() for r in refs):
            version = ref.get("model_version")
            if not version:
                continue
            name, number = version["name"], version["version"]
            trainer = producers.get(version.get("model_id"))
            made = (f"trained by [{trainer}]({links[trainer]})" if trainer in links else
                    f"model artifact #{version.get('model_id')} from an earlier run")
            pusher = f"[{e['node']}]({links[e['node']]})" if e["node"] in links else e["node"]
            client.update_model_version(name, number,
                                        description=f"{where}: {made}; pushed by {pusher}.")
            if trainer in node_runs:
                client.set_model_version_tag(name, number, "gristmill.source_mlflow_run_id",
                                             node_runs[trainer])
            alias = f" (alias `{version['alias']}`)" if version.get("alias") else ""
            found.append((f"{name} version {number}",
                          f"- [{name} version {number}](#/models/{name}/versions/{number})"
                          f"{alias}, {made}"))
    return found
