"""The numeric part of a fitted transform as a ``torch.nn.Module``.

String lookups (vocabulary, hash, cross), string, date and token-list ops stay in Arrow;
every other step of the plan has a tensor twin here, so a Trainer can put the transform
inside its exported model and take raw numeric features. The module's inputs are float64
tensors of the raw numeric columns (NaN for missing) plus int64 ids of the Arrow steps it
builds on, keyed by step id; its outputs are float32 (NaN for missing) or int64 tensors, one
per output feature computed in torch.
:func:`transform_with_torch` runs the whole serving path (Arrow lookups then the module) and
must equal :meth:`FittedTransform.transform`; a test checks it. Token lists (TFT's ragged
tokens) never enter the module: list outputs come from the Arrow part, a list's scalar
reductions (``word_count``) are module inputs, and a plan whose torch step would read a list is
refused by :func:`build_torch_module` with the step named.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import torch
from torch import Tensor, nn

from gristmill.engine import transform_kernels as k
from gristmill.engine.errors import ConfigError
from gristmill.engine.transform_fn import INPUT_PREFIX, FittedTransform, to_table
from gristmill.engine.transform_text import LIST_DTYPES

_ARITH = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
          "pow": torch.pow}
_UNARY = {"log1p": torch.log1p, "log": torch.log, "exp": torch.exp, "sqrt": torch.sqrt,
          "abs": torch.abs, "round": torch.round, "floor": torch.floor, "ceil": torch.ceil}
_COMPARE = {"lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge, "eq": torch.eq,
            "ne": torch.ne}
_LIST_PARAMS = ("boundaries", "means", "stds", "mins", "maxs")


def is_torch_step(step: dict[str, Any]) -> bool:
    """Whether a plan step runs in the torch module (numeric ops; not string ops)."""
    if step["op"] in k.ARROW_ONLY_OPS or step["params"].get("strings"):
        return False
    return not (step["op"] == "fill_missing" and step["dtype"] == "string")


class TransformModule(nn.Module):
    """Applies the numeric steps of a plan to a dict of tensors.

    Args:
        steps: The plan steps that run in torch, in plan order.
        outputs: ``(output name, step id, dtype)`` of the outputs computed here.
        input_keys: Ref -> key of the ``forward`` input dict.
    """

    def __init__(self, steps: list[dict[str, Any]], outputs: list[tuple[str, str, str]],
                 input_keys: dict[str, str]):
        super().__init__()
        self.steps = steps
        self.output_specs = outputs
        self.input_keys = input_keys
        for step in steps:
            for name in _LIST_PARAMS:
                if name in step["params"]:
                    self.register_buffer(_buffer(step, name), torch.tensor(
                        step["params"][name], dtype=torch.float64), persistent=False)

    @property
    def input_names(self) -> list[str]:
        """Keys ``forward`` expects."""
        return sorted(set(self.input_keys.values()))

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        """Raw numeric columns (and Arrow step ids) in, numeric output features out."""
        values: dict[str, Tensor] = {}
        for step in self.steps:
            args = [a if isinstance(a, (int, float)) else self._arg(a, features, values)
                    for a in step["args"]]
            values[step["id"]] = self._apply(step, args)
        out: dict[str, Tensor] = {}
        for name, ref, dtype in self.output_specs:
            v = values[ref]
            # "integer" (a cast to int64) stays float64 here so NaN can mark missing.
            out[name] = v.to(torch.int64) if dtype == "int" else \
                v.to(torch.float64) if dtype == "integer" else v.to(torch.float32)
        return out

    def _arg(self, ref: str, features: dict[str, Tensor], values: dict[str, Tensor]) -> Tensor:
        if ref in values:
            return values[ref]
        x = features[self.input_keys[ref]]
        return x if x.dtype == torch.int64 and not ref.startswith(INPUT_PREFIX) \
            else x.to(torch.float64)

    def _apply(self, step: dict[str, Any], args: list[Any]) -> Tensor:
        op, p = step["op"], step["params"]
        x = args[0]
        if op == "arith":
            a, b = args
            if not isinstance(a, Tensor):
                a = torch.full_like(b, float(a))
            return _ARITH[p["fn"]](a.to(torch.float64), b)
        if op in _ELEMENTWISE:
            return _ELEMENTWISE[op](p, [_float(a) for a in args])
        if op == "unary":
            return _UNARY[p["fn"]](x)
        if op == "clip":
            return torch.clamp(x, min=p.get("min"), max=p.get("max"))
        if op == "fill_missing":
            return torch.where(torch.isnan(x), torch.full_like(x, float(p["value"])), x)
        if op == "scale_to_z_score":
            return (x - p["mean"]) / p["std"] if p["std"] > 0 else x - p["mean"]
        if op == "scale_to_gaussian":
            return _gaussian(x, p)
        if op == "scale_by_min_max":
            return _min_max(x, p["min"], p["max"], p["output_min"], p["output_max"])
        if op == "bucketize":
            b = getattr(self, _buffer(step, "boundaries"))
            ids = torch.bucketize(x, b, right=True)
            return torch.where(torch.isnan(x), torch.full_like(ids, b.numel() + 1), ids)
        if op == "one_hot":
            return _one_hot(x, int(p["depth"]))
        return self._per_key(step, x, args[1].to(torch.int64))

    def _per_key(self, step: dict[str, Any], x: Tensor, keys: Tensor) -> Tensor:
        p = step["params"]
        if step["op"] == "z_score_per_key":
            m = getattr(self, _buffer(step, "means"))[keys]
            s = getattr(self, _buffer(step, "stds"))[keys]
            return torch.where(s > 0, (x - m) / torch.where(s > 0, s, torch.ones_like(s)), x - m)
        lo = getattr(self, _buffer(step, "mins"))[keys]
        hi = getattr(self, _buffer(step, "maxs"))[keys]
        return _min_max(x, lo, hi, p["output_min"], p["output_max"])


def _float(a: Any) -> Any:
    return a.to(torch.float64) if isinstance(a, Tensor) else float(a)


def _nan_where(out: Tensor, *values: Any) -> Tensor:
    """``out`` as float64 with NaN wherever one of the tensor ``values`` is NaN."""
    out = out.to(torch.float64)
    for v in values:
        if isinstance(v, Tensor):
            out = torch.where(torch.isnan(v), torch.full_like(out, float("nan")), out)
    return out


def _like(args: list[Any]) -> Tensor:
    return next(a for a in args if isinstance(a, Tensor))


def _compare(p: dict, args: list[Any]) -> Tensor:
    a, b = args
    ref = _like(args)
    a = a if isinstance(a, Tensor) else torch.full_like(ref, a)
    b = b if isinstance(b, Tensor) else torch.full_like(ref, b)
    return _nan_where(_COMPARE[p["fn"]](a, b), a, b)


def _logical(p: dict, args: list[Any]) -> Tensor:
    truth = [a != 0 for a in args]
    out = ~truth[0] if p["fn"] == "not" else \
        truth[0] & truth[1] if p["fn"] == "and" else truth[0] | truth[1]
    return _nan_where(out, *args)


def _where(p: dict, args: list[Any]) -> Tensor:
    cond, x, y = args
    x = x if isinstance(x, Tensor) else torch.full_like(cond, x)
    y = y if isinstance(y, Tensor) else torch.full_like(cond, y)
    return _nan_where(torch.where(cond != 0, x, y), cond)


_ELEMENTWISE = {
    "compare": _compare, "logical": _logical, "where": _where,
    "cast": lambda p, a: torch.trunc(a[0]) if p["to"] == "integer" else a[0],
    "is_missing": lambda p, a: torch.isnan(a[0]).to(torch.float64),
    "constant": lambda p, a: torch.full_like(a[0], float(p["value"])),
}


def _lambert_w(x: Tensor) -> Tensor:
    """Principal branch of Lambert's W for ``x >= 0`` (as :func:`.transform_text.lambert_w`)."""
    e, inv_e = float(np.exp(1.0)), float(np.exp(-1.0))
    slope = (e - 1.0) / (float(np.exp(2.0)) - 1.0)
    log_x = torch.log(x)
    w = torch.where(x < inv_e, x, torch.where(
        x < e, slope * x + inv_e * (1.0 - slope),
        log_x + (1.0 / log_x - 1.0) * torch.log(log_x)))
    for _ in range(8):
        exp_w = torch.exp(w)
        w = w - (w * exp_w - x) / (exp_w + w * exp_w)
    return w


def _gaussian(x: Tensor, p: dict[str, Any]) -> Tensor:
    """scale_to_gaussian: inverse Tukey HH of the robustly scaled value, or the z-score."""
    hl, hr = float(p["hl"]), float(p["hr"])
    long_tailed = hl > 0 or hr > 0
    denominator = p["scale"] if long_tailed else p["std"]
    scaled = (x - p["loc"]) / denominator if denominator != 0 else x - p["loc"]
    if not long_tailed:
        return scaled

    def one_side(v: Tensor, h: float) -> Tensor:
        if h <= 0:
            return v
        hv2 = h * v * v
        return torch.where(hv2 < 1e-7, v, torch.sqrt(_lambert_w(hv2) / h))

    return torch.where(scaled < 0, -one_side(-scaled, hl), one_side(scaled, hr))


def _min_max(x: Tensor, lo: Any, hi: Any, out_lo: float, out_hi: float) -> Tensor:
    lo = torch.as_tensor(lo, dtype=torch.float64)
    hi = torch.as_tensor(hi, dtype=torch.float64)
    ok = hi > lo
    span = torch.where(ok, hi - lo, torch.ones_like(hi))
    scaled = (x - lo) / span * (out_hi - out_lo) + out_lo
    mid = torch.where(torch.isnan(x), x, torch.full_like(x, (out_lo + out_hi) / 2.0))
    return torch.where(ok, scaled, mid)


def _one_hot(x: Tensor, depth: int) -> Tensor:
    ids = x if x.dtype == torch.int64 else torch.nan_to_num(x, nan=-1.0).to(torch.int64)
    valid = (ids >= 0) & (ids < depth)
    hot = nn.functional.one_hot(torch.where(valid, ids, torch.zeros_like(ids)), depth)
    return hot.to(torch.float32) * valid.unsqueeze(1).to(torch.float32)


def _buffer(step: dict[str, Any], name: str) -> str:
    return f"{step['id']}_{name}"


def build_torch_module(ft: FittedTransform,
                       columns: list[str] | None = None) -> TransformModule:
    """Build the :class:`TransformModule` of ``ft``'s numeric steps.

    Args:
        ft: The fitted transform.
        columns: Raw columns that will be present (default: all); outputs needing others
            (the label, at serving time) are left out of the module.

    Raises:
        ConfigError: A raw column is named like a step id, so the input keys would clash.
    """
    feats = ft.output_features if columns is None else ft.available_outputs(columns)
    refs = {f.name: ft.output_ref(f.name) for f in feats}
    by_id = {s["id"]: s for s in ft.steps if is_torch_step(s)}
    outputs = [(name, ref, by_id[ref]["dtype"]) for name, ref in refs.items() if ref in by_id]
    needed, stack = set(), [ref for _, ref, _ in outputs]
    while stack:
        ref = stack.pop()
        if ref in by_id and ref not in needed:
            needed.add(ref)
            stack.extend(a for a in by_id[ref]["args"] if isinstance(a, str))
    torch_steps = [s for s in ft.steps if s["id"] in needed]
    _refuse_lists(ft, torch_steps)
    input_keys: dict[str, str] = {}
    for step in torch_steps:
        for a in step["args"]:
            if isinstance(a, str) and a not in needed:
                input_keys[a] = a[len(INPUT_PREFIX):] if a.startswith(INPUT_PREFIX) else a
    if len(set(input_keys.values())) != len(input_keys):
        raise ConfigError(f"{ft.source}: raw column names clash with step ids "
                          f"{sorted(input_keys)}.", fix="rename the raw column")
    return TransformModule(torch_steps, outputs, input_keys)


def _refuse_lists(ft: FittedTransform, torch_steps: list[dict[str, Any]]) -> None:
    """A token list cannot be a tensor input: refuse a plan whose torch step reads one."""
    steps = {s["id"]: s for s in ft.steps}
    for step in torch_steps:
        for a in step["args"]:
            source = steps.get(a) if isinstance(a, str) else None
            if source is not None and source["dtype"] in LIST_DTYPES:
                raise ConfigError(
                    f"{ft.source}: step {step['id']} {step.get('label', step['op'])} reads the "
                    f"token list {source.get('label', source['op'])} ({source['op']}), which "
                    "the torch module cannot carry (lists are ragged).",
                    fix="reduce the list in Arrow first (word_count, or tfidf weights kept as "
                        "an output), or serve this transform with FittedTransform.transform")


def module_inputs(ft: FittedTransform, module: TransformModule, table: Any) -> dict:
    """The ``forward`` input dict for ``table``: Arrow lookups run here, numbers as float64."""
    values = ft.evaluate(to_table(table), list(module.input_keys))
    feats = {}
    for ref, key in module.input_keys.items():
        v = values[ref]
        is_ids = isinstance(v, np.ndarray) and v.dtype == np.int64
        x = k.as_ids(v) if is_ids else k.as_float(v)
        # Arrow's zero-copy views are read-only; torch wants a writable buffer.
        feats[key] = torch.from_numpy(x if x.flags.writeable else x.copy())
    return feats


def transform_with_torch(ft: FittedTransform, table: Any) -> pa.Table:
    """The serving path: Arrow for string lookups, the torch module for numbers.

    Returns the same table as ``ft.transform(table)`` (floats within float32 rounding).
    """
    table = to_table(table)
    module = build_torch_module(ft, table.column_names)
    feats = ft.available_outputs(table.column_names)
    in_torch = {name for name, _, _ in module.output_specs}
    arrow_part = ft.transform(table, [f.name for f in feats if f.name not in in_torch])
    with torch.no_grad():
        out = module(module_inputs(ft, module, table))
    cols = [_tensor_to_arrow(out[f.name], f.dtype) if f.name in out
            else arrow_part.column(f.name) for f in feats]
    return pa.table(cols, names=[f.name for f in feats]) if feats else table.select([])


def _tensor_to_arrow(t: Tensor, dtype: str) -> pa.Array:
    x = t.numpy()
    if x.ndim == 2:
        return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])
    if dtype == "int64" and x.dtype.kind == "f":  # a nullable cast to int64
        return pa.array(np.nan_to_num(x, nan=0.0).astype(np.int64), pa.int64(),
                        mask=np.isnan(x))
    if dtype == "int64":
        return pa.array(x, pa.int64())
    return pa.array(x, pa.float32(), mask=np.isnan(x))
