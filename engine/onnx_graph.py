"""A small ONNX graph builder shared by the raw-record export modules.

Values are 1-D tensors over the batch (``[N]``) unless said otherwise; names are generated.
Only standard ``ai.onnx`` and ``ai.onnx.ml`` operators are emitted (no custom-op domain).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Default-domain opset of the graphs we build (19: ``Equal`` on strings).
OPSET = 19
#: ``ai.onnx.ml`` opset: ``LabelEncoder`` v4 takes typed key/value tensors (double keys).
ML_OPSET = 4
ML_DOMAIN = "ai.onnx.ml"


class ExportRefused(ValueError):
    """A step of the fitted transform (or the model) cannot be expressed in standard ONNX.

    Attributes:
        op: The op that cannot be expressed, as the plan names it.
        step: The plan step (id and label) or model part concerned.
    """

    def __init__(self, op: str, step: str, why: str):
        super().__init__(f"{step}: op {op!r} cannot be expressed with standard ONNX / "
                         f"ai.onnx.ml operators: {why}")
        self.op = op
        self.step = step


class GraphBuilder:
    """Collects nodes and constant initializers; every helper returns the output's name."""

    def __init__(self, prefix: str = ""):
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._prefix = prefix
        self._count = 0
        self._constants: dict[tuple, str] = {}
        self.functions: list[Any] = []  # local functions of a merged torch export
        self.opset = OPSET
        self.extra_opsets: dict[str, int] = {}  # domains of a merged export's functions

    def fresh(self, hint: str) -> str:
        """A new unique value name."""
        self._count += 1
        return f"{self._prefix}{hint}_{self._count}"

    def op(self, op_type: str, inputs: list[str], hint: str | None = None,
           domain: str = "", output: str | None = None, **attrs: Any) -> str:
        """Append one node with a single output (named ``output``, or generated) and
        return that output's name."""
        from onnx import helper

        out = output or self.fresh(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, domain=domain,
                                           **attrs))
        return out

    def const(self, value: Any, dtype: Any = np.float64) -> str:
        """An initializer holding ``value`` as ``dtype`` (scalars stay 0-d)."""
        from onnx import numpy_helper

        array = np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes()) if array.dtype != object \
            else ("object", array.shape, tuple(array.ravel().tolist()))
        if key in self._constants:
            return self._constants[key]
        name = self.fresh("const")
        self.initializers.append(numpy_helper.from_array(array, name))
        self._constants[key] = name
        return name

    # ------------------------------------------------------------------ common patterns
    def where(self, cond: str, yes: str, no: str) -> str:
        """``Where(cond, yes, no)``."""
        return self.op("Where", [cond, yes, no])

    def is_nan(self, x: str) -> str:
        """Boolean ``[N]``: the double value is NaN (missing)."""
        return self.op("IsNaN", [x])

    def mask_missing(self, value: str, missing: str) -> str:
        """``value`` with NaN where ``missing`` is true."""
        return self.where(missing, self.const(np.nan), value)

    def bool_to_double(self, flag: str) -> str:
        """1.0 / 0.0 from a boolean tensor."""
        return self.op("Cast", [flag], to=_onnx_type(np.float64))

    def cast(self, x: str, dtype: Any) -> str:
        """``Cast`` to a NumPy dtype."""
        return self.op("Cast", [x], to=_onnx_type(dtype))

    def column(self, x: str) -> str:
        """``[N] -> [N, 1]``."""
        return self.op("Unsqueeze", [x, self.const([1], np.int64)])

    def trunc(self, x: str) -> str:
        """Round toward zero (ONNX has no ``Trunc``); NaN stays NaN."""
        negative = self.op("Less", [x, self.const(0.0)])
        return self.where(negative, self.op("Ceil", [x]), self.op("Floor", [x]))

    def ids_from_double(self, x: str) -> str:
        """int64 ids from doubles: truncated, missing (NaN) -> -1 (as ``as_ids``)."""
        safe = self.where(self.is_nan(x), self.const(-1.0), x)
        return self.cast(self.trunc(safe), np.int64)


def _onnx_type(dtype: Any) -> int:
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def make_model(builder: GraphBuilder, inputs: list[Any], outputs: list[Any],
               name: str, doc: str = "") -> Any:
    """An ``onnx.ModelProto`` of the builder's nodes, checked by ``onnx.checker``."""
    import onnx
    from onnx import helper

    graph = helper.make_graph(builder.nodes, name, inputs, outputs, builder.initializers,
                              doc_string=doc)
    model = helper.make_model(graph, producer_name="gristmill", functions=builder.functions,
                              opset_imports=[helper.make_opsetid("", builder.opset),
                                             helper.make_opsetid(ML_DOMAIN, ML_OPSET),
                                             *(helper.make_opsetid(d, v) for d, v in
                                               builder.extra_opsets.items())])
    model.ir_version = min(model.ir_version, 10)  # readable by onnxruntime >= 1.18
    onnx.checker.check_model(model)
    return model
