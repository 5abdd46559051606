"""Turn a :class:`Pipeline` into a validated DAG in topological order.

Validation names the component, the input, expected versus got, and the fix: duplicate ids,
inputs from components missing from the pipeline, and cycles. A node depends on the producers
of its inputs, of its ``Cond`` predicates and of its run-time parameters
(:mod:`.runtime_params`).
"""

from __future__ import annotations

import graphlib
from dataclasses import dataclass, field

from gristmill.components.framework.base import BaseComponent, Channel
from gristmill.metadata.errors import CompileError
from gristmill.orchestrator.dsl import Pipeline


@dataclass
class Node:
    """One compiled node: the component and its graph neighbours."""

    component: BaseComponent
    upstream: set[str] = field(default_factory=set)
    downstream: set[str] = field(default_factory=set)

    @property
    def id(self) -> str:
        return self.component.id


@dataclass
class CompiledPipeline:
    """The pipeline with nodes in a topological order."""

    pipeline: Pipeline
    nodes: dict[str, Node]
    order: list[str]

    def descendants(self, node_id: str) -> set[str]:
        """All nodes reachable downstream of ``node_id`` (excluding it)."""
        return self._reachable(node_id, "downstream")

    def ancestors(self, node_id: str) -> set[str]:
        """All nodes upstream of ``node_id`` (excluding it)."""
        return self._reachable(node_id, "upstream")

    def _reachable(self, node_id: str, direction: str) -> set[str]:
        seen: set[str] = set()
        stack = list(getattr(self.nodes[node_id], direction))
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(getattr(self.nodes[current], direction))
        return seen


def compile_pipeline(pipeline: Pipeline) -> CompiledPipeline:
    """Validate ``pipeline`` and order its nodes.

    Raises:
        CompileError: Duplicate ids, an input produced outside the pipeline, or a cycle.
    """
    nodes = _index_nodes(pipeline)
    for node in nodes.values():
        for key, channel in _read_channels(node.component):
            producer = _producer_of(pipeline, node, key, channel, nodes)
            if producer is not None:
                node.upstream.add(producer)
                nodes[producer].downstream.add(node.id)
    sorter = graphlib.TopologicalSorter({n.id: n.upstream for n in nodes.values()})
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as e:
        cycle = " -> ".join(e.args[1])
        raise CompileError(f"Pipeline {pipeline.name!r}: the components form a cycle: {cycle}.",
                           fix="remove one of these inputs so data flows one way") from e
    return CompiledPipeline(pipeline, nodes, order)


def _read_channels(component: BaseComponent) -> list[tuple[str, Channel]]:
    """What a node reads at run time: its inputs, its ``Cond`` predicates' channels and the
    value artifacts of its run-time parameters (``future()[0].value``)."""
    read = list(component.inputs.items())
    read += [("Cond", c) for predicate in component.conditions for c in predicate.channels()]
    refs = getattr(component, "runtime_parameters", {}) or {}
    read += [(key, ref.channel) for key, ref in refs.items()]
    return read


def _index_nodes(pipeline: Pipeline) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    for component in pipeline.components:
        if component.id in nodes:
            raise CompileError(
                f"Pipeline {pipeline.name!r}: two components have the id {component.id!r}.",
                component_id=component.id,
                fix=f"give one a unique id: {component.type_name}(...).with_id('{component.id}_2')")
        nodes[component.id] = Node(component)
    if not nodes:
        raise CompileError(f"Pipeline {pipeline.name!r} has no components.",
                           fix="pass components=[...]")
    return nodes


def _producer_of(pipeline: Pipeline, node: Node, key: str, channel: Channel,
                 nodes: dict[str, Node]) -> str | None:
    producer = channel.producer
    if producer is None:
        return None  # a free-standing channel, resolved from the store
    registered = nodes.get(producer.id)
    if registered is None or registered.component is not producer:
        found = ("the component listed under that id is a different object" if registered
                 else "it is not listed")
        raise CompileError(
            f"{node.id}({key}=...): expected its producer {producer.id} in pipeline "
            f"{pipeline.name!r}, but {found}.", component_id=node.id,
            fix=f"add {producer.id} to components=[...]; note with_id() returns a copy, so wire "
                "downstream components to the copy's outputs")
    if producer is node.component:
        raise CompileError(f"{node.id}({key}=...): a component cannot consume its own output.",
                           component_id=node.id, fix="connect an upstream component's output")
    return producer.id
