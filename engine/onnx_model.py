"""The model part of the raw-record ONNX graph: ``numeric [N, F]``, ``categorical [N, C]`` in,
``logits [N, K]`` (float32) out.

The built-in models (:class:`~gristmill.engine.models.TabularMLP`,
:class:`~gristmill.engine.models.WideDeep`) are written straight from their weights: a few
``Gemm``/``Gather`` nodes, built in milliseconds. Any other ``nn.Module`` goes through
``torch.onnx.export`` (dynamo) and is merged in with ``onnx.compose``.
"""

from __future__ import annotations

import tempfile
from typing import Any

import numpy as np

from gristmill.engine.onnx_graph import ExportRefused, GraphBuilder

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def add_model(b: GraphBuilder, model: Any, numeric: str | None, categorical: str | None,
              tensor_onnx: str | None = None, example: tuple | None = None) -> str:
    """Append the model's nodes and return the name of its ``[N, K]`` float32 output.

    Args:
        b: The builder holding the transform's nodes.
        model: The trained ``nn.Module`` (on the CPU, in eval mode).
        numeric: The ``[N, F]`` float32 input (``None`` when ``F == 0``).
        categorical: The ``[N, C]`` int64 input (``None`` when ``C == 0``).
        tensor_onnx: A tensor-input ONNX export of ``model`` to merge (custom models).
        example: Example ``(numeric, categorical)`` tensors, to export a custom model
            when ``tensor_onnx`` is not given.
    """
    from gristmill.engine.models import TabularMLP, WideDeep

    if type(model) in (TabularMLP, WideDeep) and _plain_layers(model):
        return _builtin(b, model, numeric, categorical)
    return _merged(b, model, numeric, categorical, tensor_onnx, example)


def _plain_layers(model: Any) -> bool:
    from torch import nn

    body = model.body if hasattr(model, "body") else model.deep
    return all(isinstance(m, (nn.Linear, nn.ReLU, nn.Dropout)) for m in body)


def _weights(model: Any) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}


def _builtin(b: GraphBuilder, model: Any, numeric: str | None, categorical: str | None) -> str:
    w = _weights(model)
    features = model.features
    standardized = _standardize(b, w, numeric) if features.num_numeric else None
    parts = [standardized] if standardized else []
    ids = [_lookup_ids(b, categorical, i, size) for i, size in
           enumerate(features.cardinalities)]
    parts += [b.op("Gather", [b.const(w[f"features.embeddings.{i}.weight"], np.float32), x])
              for i, x in enumerate(ids)]
    hidden = parts[0] if len(parts) == 1 else b.op("Concat", parts, axis=1)
    body, head = ("body", "head") if hasattr(model, "body") else ("deep", "deep_head")
    for index, layer in enumerate(getattr(model, body)):
        if type(layer).__name__ == "Linear":
            hidden = _linear(b, w, f"{body}.{index}", hidden)
        elif type(layer).__name__ == "ReLU":
            hidden = b.op("Relu", [hidden])
    out = _linear(b, w, head, hidden)
    if hasattr(model, "wide_categorical"):  # WideDeep's linear part
        if model.wide_numeric is not None:
            wide = b.const(w["wide_numeric.weight"].T, np.float32)
            out = b.op("Add", [out, b.op("MatMul", [standardized, wide])])
        for i, x in enumerate(ids):
            table = b.const(w[f"wide_categorical.{i}.weight"], np.float32)
            out = b.op("Add", [out, b.op("Gather", [table, x])])
    return out


def _standardize(b: GraphBuilder, w: dict[str, np.ndarray], numeric: str | None) -> str:
    """``nan_to_num((x - mean) * inv_std, nan=0)``: NaN -> 0, +-inf -> +-float32 max."""
    if numeric is None:
        raise ExportRefused("model", "features", "the model reads numerics the encoder lacks")
    centred = b.op("Sub", [numeric, b.const(w["features.numeric_mean"], np.float32)])
    z = b.op("Mul", [centred, b.const(w["features.numeric_inv_std"], np.float32)])
    clipped = b.op("Clip", [z, b.const(-_FLOAT32_MAX, np.float32),
                            b.const(_FLOAT32_MAX, np.float32)])
    return b.where(b.is_nan(z), b.const(0.0, np.float32), clipped)


def _lookup_ids(b: GraphBuilder, categorical: str | None, column: int, size: int) -> str:
    """Column ``column``'s ids; out-of-range (OOV, -1 for missing) -> the shared row ``size``."""
    if categorical is None:
        raise ExportRefused("model", "features", "the model reads categoricals the encoder lacks")
    ids = b.op("Gather", [categorical, b.const(column, np.int64)], axis=1)
    outside = b.op("Or", [b.op("Less", [ids, b.const(0, np.int64)]),
                          b.op("GreaterOrEqual", [ids, b.const(size, np.int64)])])
    return b.where(outside, b.const(size, np.int64), ids)


def _linear(b: GraphBuilder, w: dict[str, np.ndarray], prefix: str, x: str) -> str:
    # MatMul + Add rather than Gemm: onnxruntime's dynamic int8 quantization takes MatMul.
    out = b.op("MatMul", [x, b.const(np.ascontiguousarray(w[f"{prefix}.weight"].T),
                                     np.float32)])
    if f"{prefix}.bias" in w:
        out = b.op("Add", [out, b.const(w[f"{prefix}.bias"], np.float32)])
    return out


def _merged(b: GraphBuilder, model: Any, numeric: str | None, categorical: str | None,
            tensor_onnx: str | None, example: tuple | None) -> str:
    """Inline a tensor-input ONNX export of a custom model (exported now if not given)."""
    import onnx

    if tensor_onnx is None:
        from gristmill.engine import export

        tensor_onnx = export.export_onnx(model, example, tempfile.mkdtemp(prefix="gristmill-"))
    sub = onnx.load(tensor_onnx)
    graph = sub.graph
    prefix = b.fresh("model") + "/"
    rename = {"numeric": numeric, "categorical": categorical}
    missing = [name for name, value in rename.items()
               if value is None and any(i.name == name for i in graph.input)]
    if missing:
        raise ExportRefused("model", "inputs", f"the model reads {missing}, which are empty")

    def renamed(name: str) -> str:
        if name in rename and rename[name] is not None:
            return rename[name]
        return prefix + name if name else name

    for init in graph.initializer:
        init.name = renamed(init.name)
        b.initializers.append(init)
    for node in graph.node:
        node.input[:] = [renamed(n) for n in node.input]
        node.output[:] = [renamed(n) for n in node.output]
        node.name = prefix + node.name
        b.nodes.append(node)
    b.functions = list(sub.functions)
    b.opset = max([b.opset, *(o.version for o in sub.opset_import if o.domain == "")])
    b.extra_opsets.update({o.domain: o.version for o in sub.opset_import
                           if o.domain not in ("", "ai.onnx", "ai.onnx.ml")})
    return renamed(graph.output[0].name)


def write_builtin_tensor_graph(model: Any, path: str) -> bool:
    """Write a built-in model's tensor-input graph (``numeric``, ``categorical`` ->
    ``outputs``) to ``path``; ``False`` (nothing written) for any other model."""
    from onnx import TensorProto, helper

    from gristmill.engine.models import TabularMLP, WideDeep
    from gristmill.engine.onnx_graph import make_model

    if type(model) not in (TabularMLP, WideDeep) or not _plain_layers(model):
        return False
    b = GraphBuilder()
    logits = _builtin(b, model, "numeric", "categorical")
    b.op("Identity", [logits], output="outputs")
    features = model.features
    inputs = [helper.make_tensor_value_info("numeric", TensorProto.FLOAT,
                                            ["batch", features.num_numeric]),
              helper.make_tensor_value_info("categorical", TensorProto.INT64,
                                            ["batch", len(features.cardinalities)])]
    outputs = [helper.make_tensor_value_info("outputs", TensorProto.FLOAT, ["batch", None])]
    graph = make_model(b, inputs, outputs, "gristmill_tensors")
    with open(path, "wb") as f:
        f.write(graph.SerializeToString())
    return True
