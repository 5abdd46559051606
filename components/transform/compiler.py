"""Turn a traced ``preprocessing_fn`` plus analyzer accumulators into a fitted plan.

The plan (see :mod:`gristmill.engine.transform_fn`) is an ordered list of steps whose
analyzer-dependent parameters are resolved to constants. The same compiler builds the
*partial* plans that compute analyzer inputs in each analysis phase, so analysis and apply
run the exact same kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from gristmill.components.transform.analyzer_ops import VocabularyHandle
from gristmill.components.transform.ops import SizeOf
from gristmill.components.transform.tracing import Analyzer, Deferred, Node, TracedFn
from gristmill.engine.transform_fn import INPUT_PREFIX, PLAN_FORMAT, VOCAB_DIR
from gristmill.metadata.errors import DataError

_OUTPUT_DTYPES = {"float": "float32", "int": "int64", "onehot": "float32", "string": "string",
                  "integer": "int64", "tokens": "list<string>", "token_ids": "list<int64>",
                  "weights": "list<float>"}


def raw_type(t: pa.DataType) -> str:
    """Coarse type of an Arrow column: ``float``, ``int``, ``string`` or ``other``.

    Dates are ``int`` (days since 1970-01-01) and timestamps, durations and times ``float``
    (seconds), the numbers :func:`gristmill.engine.transform_kernels.temporal_as_number`
    gives the transform.
    """
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_date(t):
        return "int"
    if pa.types.is_timestamp(t) or pa.types.is_duration(t) or pa.types.is_time(t):
        return "float"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return "int"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    return "other"


@dataclass
class Compiled:
    """Steps for some nodes, the vocabularies they use and each node's ref."""

    steps: list[dict[str, Any]]
    vocabularies: dict[str, list[str]]
    refs: dict[int, str]


def compile_nodes(targets: list[Node], accumulators: dict[str, Any]) -> Compiled:
    """Steps computing ``targets`` (and what they need), constants resolved.

    Args:
        targets: Nodes whose values are wanted.
        accumulators: Analyzer fingerprint -> merged accumulator, for every analyzer the
            targets depend on.
    """
    needed: dict[int, Node] = {}
    stack = list(targets)
    while stack:
        node = stack.pop()
        if node.id not in needed:
            needed[node.id] = node
            stack.extend(a for a in node.args if isinstance(a, Node))
    out = Compiled([], {}, {})
    sizes: dict[int, int | None] = {}
    for node in sorted(needed.values(), key=lambda n: n.id):
        if node.op == "input":
            out.refs[node.id] = INPUT_PREFIX + node.params["name"]
            continue
        ref = f"t{node.id}"
        args = [out.refs[a.id] if isinstance(a, Node) else _number(_resolve(a, accumulators,
                                                                           out, sizes))
                for a in node.args]
        params = {k: _resolve(v, accumulators, out, sizes) for k, v in node.params.items()}
        step = {"id": ref, "op": node.op, "args": args, "params": params,
                "dtype": node.dtype, "label": node.label}
        sizes[node.id] = _categorical_size(node.op, params, out.vocabularies)
        if sizes[node.id] is not None:
            step["vocab_size"] = sizes[node.id]
        out.steps.append(step)
        out.refs[node.id] = ref
    return out


def _resolve(value: Any, accs: dict[str, Any], out: Compiled, sizes: dict[int, Any]) -> Any:
    if isinstance(value, VocabularyHandle):
        out.vocabularies[value.name] = [str(t) for t in value.resolve(accs)]
        return value.name
    if isinstance(value, SizeOf):
        return sizes[value.node.id]
    if isinstance(value, Deferred):
        return _plain(value.resolve(accs))
    return _plain(value)


def _plain(value: Any) -> Any:
    """JSON-ready Python values (NumPy scalars and arrays become floats and lists)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def _number(value: Any) -> float:
    return float(value)


def _categorical_size(op: str, params: dict[str, Any], vocabs: dict[str, list]) -> int | None:
    if op == "vocabulary":
        return len(vocabs[params["vocabulary"]]) + int(params["num_oov_buckets"])
    if op == "bucketize":
        return len(params["boundaries"]) + 2
    if op in ("hash_strings", "cross"):
        return int(params["hash_buckets"])
    return None


def build_plan(traced: TracedFn, accumulators: dict[str, Any],
               arrow_types: dict[str, str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The final fitted plan and its vocabularies.

    Args:
        traced: The traced ``preprocessing_fn``.
        accumulators: Fingerprint -> merged accumulator of every analyzer in the graph.
        arrow_types: Raw column -> Arrow type string, recorded for readers of the plan.

    Raises:
        DataError: A numeric analyzer saw no values at all (nothing to scale by).
    """
    _check_not_empty(traced, accumulators)
    compiled = compile_nodes(list(traced.outputs.values()), accumulators)
    steps = {s["id"]: s for s in compiled.steps}
    raw = sorted({ref[len(INPUT_PREFIX):] for ref in compiled.refs.values()
                  if ref.startswith(INPUT_PREFIX)})
    outputs = [_output_entry(name, node, compiled.refs[node.id], steps, traced, arrow_types)
               for name, node in traced.outputs.items()]
    plan = {
        "format": PLAN_FORMAT,
        "raw_features": [{"name": n, "type": traced.raw_types[n],
                          "arrow_type": arrow_types.get(n, "")} for n in raw],
        "steps": compiled.steps,
        "outputs": outputs,
        "vocabularies": {name: {"file": f"{VOCAB_DIR}/{name}.txt", "size": len(tokens)}
                         for name, tokens in compiled.vocabularies.items()},
        "analyzers": [_analyzer_summary(an, accumulators)
                      for an in traced.graph.analyzers.values()],
    }
    return plan, compiled.vocabularies


def _output_entry(name: str, node: Node, ref: str, steps: dict[str, dict], traced: TracedFn,
                  arrow_types: dict[str, str]) -> dict[str, Any]:
    if node.op == "input":
        raw = node.params["name"]
        # A numeric raw column under a new name (TFX's ``x_xf = inputs['x']``) is a model
        # input, as in TFX; under its own name it is a passthrough (a label, an id).
        kind = "numeric" if name != raw and node.dtype in ("float", "int") else "passthrough"
        return {"name": name, "ref": ref, "dtype": arrow_types.get(raw, raw_type_name(node)),
                "kind": kind, "vocab_size": None, "shape": []}
    step = steps[ref]
    kind = {"float": "numeric", "onehot": "numeric", "int": "categorical",
            "integer": "numeric", "tokens": "sequence", "token_ids": "sequence",
            "weights": "sequence"}.get(node.dtype, "string")
    shape = [int(step["params"]["depth"])] if node.dtype == "onehot" else []
    return {"name": name, "ref": ref, "dtype": _OUTPUT_DTYPES[node.dtype], "kind": kind,
            "vocab_size": step.get("vocab_size"), "shape": shape}


def raw_type_name(node: Node) -> str:
    """Arrow type name of a raw column when no Arrow schema was recorded."""
    return {"float": "double", "int": "int64", "string": "string"}.get(node.dtype, "null")


def _analyzer_summary(an: Analyzer, accs: dict[str, Any]) -> dict[str, Any]:
    acc = accs.get(an.fingerprint)
    summary = _plain(acc.summary()) if acc is not None else {}
    return {"label": an.label, "kind": an.kind, "fingerprint": an.fingerprint,
            "phase": an.phase, **_json_safe(summary)}


def _json_safe(d: dict[str, Any]) -> dict[str, Any]:
    # NaN/inf are not JSON; the plan stays strict JSON for other languages' readers.
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in d.items()}


def _check_not_empty(traced: TracedFn, accs: dict[str, Any]) -> None:
    used = {an.fingerprint: an for node in traced.outputs.values() for n in node.nodes()
            for an in n.analyzers()}
    for an in used.values():
        acc = accs.get(an.fingerprint)
        if an.kind == "moments" and acc is not None and acc.n == 0:
            raise DataError(f"Transform: analyzer {an.label} saw no present values in the "
                            f"analysed splits ({acc.missing} missing), so there is nothing to "
                            "scale by.", fix="analyze splits that have values for this column, "
                                             "or fill_missing before scaling")


def phase_targets(traced: TracedFn, phase: int) -> list[Analyzer]:
    """Analyzers computed in analysis pass ``phase``."""
    return [an for an in traced.graph.analyzers.values() if an.phase == phase]


def num_phases(traced: TracedFn) -> int:
    """How many analysis passes the graph needs (0 without analyzers)."""
    return max((an.phase + 1 for an in traced.graph.analyzers.values()), default=0)


def phase_plan(traced: TracedFn, analyzers: list[Analyzer], accumulators: dict[str, Any]
               ) -> tuple[dict[str, Any], dict[str, list[str]], dict[str, list[str]]]:
    """A partial plan computing the inputs of ``analyzers`` (earlier phases resolved).

    Returns:
        ``(plan, vocabularies, refs)`` where ``refs`` maps each analyzer fingerprint to the
        refs of its input columns.
    """
    inputs = [n for an in analyzers for n in an.inputs]
    compiled = compile_nodes(inputs, accumulators)
    raw = sorted({r[len(INPUT_PREFIX):] for r in compiled.refs.values()
                  if r.startswith(INPUT_PREFIX)})
    plan = {"format": PLAN_FORMAT, "steps": compiled.steps, "outputs": [],
            "raw_features": [{"name": n, "type": traced.raw_types[n]} for n in raw]}
    refs = {an.fingerprint: [compiled.refs[n.id] for n in an.inputs] for an in analyzers}
    return plan, compiled.vocabularies, refs
