"""The DAG of one pipeline run, laid out once and drawn three ways.

:func:`build_dag` turns the components of a run (from the MLflow journal or the metadata
store) into nodes and artifact edges; :func:`layout_dag` places them in layers (a node sits
one layer right of its deepest producer); :func:`render_html` draws a self-contained SVG
page (no script, no network) for the parent MLflow run's Artifacts tab,
:func:`render_markdown` the run's description, and :func:`render_text` the terminal view of
``gristmill runs show ID --graph``. All three read the same :class:`DagLayout`.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Fill colour per displayed state (also named in the legend, so colour is never alone).
STATE_COLOURS = {"COMPLETE": "#2e7d32", "CACHED": "#0277bd", "FAILED": "#c62828",
                 "SKIPPED": "#9e9e9e", "HALTED": "#ef6c00", "CANCELED": "#6d4c41",
                 "RUNNING": "#6a1b9a", "NEW": "#616161"}
#: MLflow's maximum tag value length (a run's description is the tag mlflow.note.content).
NOTE_LIMIT = 8000
_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _MARGIN = 190, 54, 150, 30, 24


@dataclass(frozen=True)
class DagNode:
    """One component of the run as the picture shows it."""

    node_id: str
    component_type: str
    state: str  # COMPLETE, CACHED, FAILED, SKIPPED, HALTED, CANCELED
    seconds: float | None = None
    link: str | None = None  # URL of the node's nested MLflow run


@dataclass(frozen=True)
class DagEdge:
    """An artifact that flowed from ``source`` to ``target``, labelled with its key."""

    source: str
    target: str
    label: str


@dataclass
class DagLayout:
    """Nodes in layers (left to right), each layer ordered to keep edges short."""

    nodes: dict[str, DagNode]
    edges: list[DagEdge]
    layers: list[list[str]] = field(default_factory=list)

    def position(self, node_id: str) -> tuple[int, int]:
        """``(layer, row)`` of a node."""
        for x, layer in enumerate(self.layers):
            if node_id in layer:
                return x, layer.index(node_id)
        raise KeyError(node_id)


def display_state(state: str, error: str | None = None, halt_reason: str | None = None,
                  skipped: bool = False) -> str:
    """The state a user reads: SKIPPED for a ``Cond`` skip, HALTED for a node that stopped
    its descendants, else the execution state."""
    if skipped or (state == "CANCELED" and (error or "").startswith("skipped")):
        return "SKIPPED"
    if halt_reason and state in ("COMPLETE", "CACHED"):
        return "HALTED"
    return state


def build_dag(components: Iterable[Mapping[str, Any]]) -> tuple[list[DagNode], list[DagEdge]]:
    """Nodes and artifact edges of a run.

    Args:
        components: One mapping per node with ``name``, ``type``, ``state`` (displayed),
            ``seconds``, optional ``link``, and ``inputs``/``outputs``: key -> artifact ids.

    Returns:
        The nodes, and one edge per (producer, consumer, key) found by artifact id. A node
        that never ran (canceled, skipped) has no resolved inputs, so no incoming edge.
    """
    components = list(components)
    producers: dict[int, tuple[str, str]] = {}
    for c in components:
        for key, ids in (c.get("outputs") or {}).items():
            for artifact_id in ids:
                producers[artifact_id] = (c["name"], key)
    nodes = [DagNode(c["name"], c.get("type") or "", c["state"], c.get("seconds"),
                     c.get("link")) for c in components]
    edges: dict[tuple[str, str, str], DagEdge] = {}
    for c in components:
        for in_key, ids in (c.get("inputs") or {}).items():
            for artifact_id in ids:
                if artifact_id not in producers or producers[artifact_id][0] == c["name"]:
                    continue  # made by an earlier run (a Resolver's pick): not an edge here
                source, out_key = producers[artifact_id]
                label = out_key if out_key == in_key else f"{out_key}\u2192{in_key}"
                edges.setdefault((source, c["name"], label), DagEdge(source, c["name"], label))
    return nodes, list(edges.values())


def layout_dag(nodes: list[DagNode], edges: list[DagEdge]) -> DagLayout:
    """Layer the nodes (longest path from a source) and order each layer by the mean row
    of its producers, keeping the run's node order as the tie-break."""
    order = {n.node_id: i for i, n in enumerate(nodes)}
    upstream: dict[str, set[str]] = {n.node_id: set() for n in nodes}
    for e in edges:
        if e.source in upstream and e.target in upstream:
            upstream[e.target].add(e.source)
    depth: dict[str, int] = {}

    def depth_of(node_id: str, seen: frozenset = frozenset()) -> int:
        if node_id not in depth:
            parents = [p for p in upstream[node_id] if p not in seen]  # a cycle cannot loop
            depth[node_id] = 1 + max((depth_of(p, seen | {node_id}) for p in parents),
                                     default=-1)
        return depth[node_id]

    for n in nodes:
        depth_of(n.node_id)
    layers: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for n in nodes:
        layers[depth[n.node_id]].append(n.node_id)
    row: dict[str, float] = {}
    for layer in layers:
        def weight(node_id: str) -> tuple[float, int]:
            rows = [row[p] for p in upstream[node_id] if p in row]
            return (sum(rows) / len(rows) if rows else order[node_id], order[node_id])

        layer.sort(key=weight)
        row.update({node_id: i for i, node_id in enumerate(layer)})
    return DagLayout({n.node_id: n for n in nodes}, list(edges), layers)


def format_seconds(seconds: float | None) -> str:
    """``0.42s``, ``12.3s``, ``4m05s``; blank when unknown."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 600:
        return f"{seconds:.1f}s"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def render_text(layout: DagLayout) -> str:
    """The layered terminal view: one block per layer, each node with its state, time and
    the artifacts it sends on (``--examples--> Transform``)."""
    width = max((len(n) for n in layout.nodes), default=0)
    lines = []
    for x, layer in enumerate(layout.layers):
        lines.append(f"layer {x}")
        for node_id in layer:
            node = layout.nodes[node_id]
            lines.append(f"  [{node.state:<8}] {node_id:<{width}}  "
                         f"{format_seconds(node.seconds):>8}  {node.component_type}".rstrip())
            out = sorted((e for e in layout.edges if e.source == node_id),
                         key=lambda e: (layout.position(e.target), e.label))
            for i, e in enumerate(out):
                branch = "\u2514" if i == len(out) - 1 else "\u251c"
                lines.append(f"      {branch}\u2500{e.label}\u2500\u2500> {e.target}")
    counts: dict[str, int] = {}
    for node in layout.nodes.values():
        counts[node.state] = counts.get(node.state, 0) + 1
    lines.append(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(lines)


def _xy(layout: DagLayout, node_id: str) -> tuple[int, int]:
    x, y = layout.position(node_id)
    return _MARGIN + x * (_BOX_W + _GAP_X), _MARGIN + 30 + y * (_BOX_H + _GAP_Y)


def _port(edges: list[DagEdge], edge: DagEdge, top: int) -> int:
    """The y of ``edge``'s own port on a box side shared by ``edges`` (one each)."""
    return top + (_BOX_H * (edges.index(edge) + 1)) // (len(edges) + 1)


def _svg_edge(layout: DagLayout, edge: DagEdge) -> str:
    """A line from its own port on the source's right side to its own port on the
    target's left side; the label sits above the stem leaving the source. An edge that
    skips layers runs in the gap between rows, never behind another node's box."""
    (x1, top1), (x2, top2) = _xy(layout, edge.source), _xy(layout, edge.target)
    y1 = _port([e for e in layout.edges if e.source == edge.source], edge, top1)
    y2 = _port([e for e in layout.edges if e.target == edge.target], edge, top2)
    x1, stem = x1 + _BOX_W, x1 + _BOX_W + _GAP_X * 0.6
    if layout.position(edge.target)[0] - layout.position(edge.source)[0] <= 1:
        path = f"M{x1},{y1} L{stem:.0f},{y1} C{stem + 30:.0f},{y1} {stem:.0f},{y2} {x2 - 6},{y2}"
    else:
        long_edges = [e for e in layout.edges
                      if layout.position(e.target)[0] - layout.position(e.source)[0] > 1]
        offset = (long_edges.index(edge) % 5 - 2) * 4
        lane = (top1 + _BOX_H + _GAP_Y // 2 if top2 >= top1 else top1 - _GAP_Y // 2) + offset
        path = (f"M{x1},{y1} L{stem:.0f},{y1} L{stem + 12:.0f},{lane} "
                f"L{x2 - _GAP_X * 0.4:.0f},{lane} L{x2 - 18},{y2} L{x2 - 6},{y2}")
    label = edge.label if len(edge.label) <= 22 else edge.label[:21] + "\u2026"
    return (f'<g class="edge" data-source="{html.escape(edge.source)}" '
            f'data-target="{html.escape(edge.target)}"><title>{html.escape(edge.source)} '
            f'\u2192 {html.escape(edge.target)}: {html.escape(edge.label)}</title>'
            f'<path d="{path}" fill="none" stroke="#555" stroke-width="1.3" '
            f'marker-end="url(#arrow)"/><text x="{x1 + 4}" y="{y1 - 3}" font-size="10" '
            f'fill="#333" paint-order="stroke" stroke="#fff" stroke-width="3">'
            f'{html.escape(label)}</text></g>')


def _svg_node(layout: DagLayout, node: DagNode, link_prefix: str) -> str:
    x, y = _xy(layout, node.node_id)
    colour = STATE_COLOURS.get(node.state, "#616161")
    name = html.escape(node.node_id if len(node.node_id) <= 24 else node.node_id[:23] + "\u2026")
    detail = html.escape(f"{node.state} {format_seconds(node.seconds)}".strip())
    box = (f'<g class="node" data-node="{html.escape(node.node_id)}" '
           f'data-state="{node.state}"><title>{html.escape(node.node_id)} '
           f'({html.escape(node.component_type)}): {detail}</title>'
           f'<rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="8" '
           f'fill="{colour}"/>'
           f'<text x="{x + 10}" y="{y + 22}" font-size="14" font-weight="bold" '
           f'fill="#fff">{name}</text>'
           f'<text x="{x + 10}" y="{y + 42}" font-size="12" fill="#fff">{detail}</text></g>')
    if node.link:
        return f'<a href="{html.escape(link_prefix + node.link)}" target="_blank">{box}</a>'
    return box


def render_html(layout: DagLayout, title: str, link_prefix: str = "") -> str:
    """A self-contained HTML page holding the DAG as inline SVG (no script, no network).

    Args:
        layout: The laid-out DAG.
        title: The page heading (pipeline and run id).
        link_prefix: Put before each node's link (``"/"`` turns the UI fragment
            ``#/experiments/...`` into a link from a page served by the MLflow server).
    """
    columns = max(len(layout.layers), 1)
    rows = max((len(layer) for layer in layout.layers), default=1)
    width = 2 * _MARGIN + columns * _BOX_W + (columns - 1) * _GAP_X
    height = 2 * _MARGIN + 30 + rows * (_BOX_H + _GAP_Y)
    legend = "".join(
        f'<rect x="{_MARGIN + i * 105}" y="{_MARGIN - 14}" width="12" height="12" '
        f'fill="{colour}"/><text x="{_MARGIN + i * 105 + 16}" y="{_MARGIN - 3}" '
        f'font-size="11">{state}</text>'
        for i, (state, colour) in enumerate(list(STATE_COLOURS.items())[:6]))
    body = "".join(_svg_edge(layout, e) for e in layout.edges if e.source in layout.nodes
                   and e.target in layout.nodes)
    body += "".join(_svg_node(layout, layout.nodes[n], link_prefix) for layer in layout.layers
                    for n in layer)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{max(width, 680)}" '
           f'height="{height}" font-family="sans-serif"><defs><marker id="arrow" '
           'viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>'
           f'{legend}{body}</svg>')
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}'
            f'</title></head><body style="margin:0;font-family:sans-serif">'
            f'<h3 style="margin:8px {_MARGIN}px">{html.escape(title)}</h3>{svg}'
            f'<p style="margin:4px {_MARGIN}px;font-size:12px;color:#555">Each box links to '
            "its component's MLflow run (open this file in its own tab to follow the links: "
            "MLflow's artifact preview blocks navigation; the run description has the same "
            "links). Nodes that did not run have no input edges.</p></body></html>")


def render_markdown(layout: DagLayout, heading: str) -> str:
    """The run description: a heading, state counts and one table row per node."""
    counts: dict[str, int] = {}
    for node in layout.nodes.values():
        counts[node.state] = counts.get(node.state, 0) + 1
    lines = [f"### {heading}", "",
             ", ".join(f"**{n}** {s}" for s, n in sorted(counts.items())) +
             " \u2014 the DAG is in the Artifacts tab (`dag.html`).", "",
             "| component | state | time | inputs from |", "|---|---|---|---|"]
    for layer in layout.layers:
        for node_id in layer:
            node = layout.nodes[node_id]
            name = f"[{node_id}]({node.link})" if node.link else node_id
            sources = ", ".join(f"{e.source} ({e.label})" for e in layout.edges
                                if e.target == node_id)
            lines.append(f"| {name} | {node.state} | {format_seconds(node.seconds)} | "
                         f"{sources} |")
    return "\n".join(lines)


def components_from_journal(events: list[dict[str, Any]], links: Mapping[str, str]
                            ) -> list[dict[str, Any]]:
    """The :func:`build_dag` input from a mirror journal's ``end_node`` events."""
    components: dict[str, dict[str, Any]] = {}  # a canceled node may be reported twice
    for e in events:
        if e.get("op") != "end_node":
            continue
        ids = {side: {k: [a["id"] for a in v] for k, v in (e.get(side) or {}).items()}
               for side in ("inputs", "outputs")}
        state = display_state(e["state"], e.get("error"), e.get("halt_reason"),
                              e.get("skipped", False))
        components[e["node"]] = {"name": e["node"], "type": e.get("type"), "state": state,
                                 "seconds": e.get("seconds"), "link": links.get(e["node"]),
                                 **ids}
    return list(components.values())


def fit_note(note: str) -> str:
    """A run description within MLflow's tag limit; a cut says so (the HTML artifacts,
    ``dag.html`` and ``lineage.html``, hold everything)."""
    if len(note) <= NOTE_LIMIT:
        return note
    return note[:NOTE_LIMIT - 120].rsplit("\n", 1)[0] + \
        "\n\n(cut at MLflow's 8,000-character limit: the HTML artifact lists everything)"
