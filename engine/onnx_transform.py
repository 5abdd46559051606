"""A fitted transform plan as ONNX nodes: raw columns in, model input columns out.

Each plan step of :mod:`gristmill.engine.transform_fn` becomes standard ONNX / ``ai.onnx.ml``
nodes that follow the missing-value rules of :mod:`gristmill.engine.transform_kernels`
exactly. Values are ``[N]`` tensors in one of four forms:

* ``float``: double, NaN for missing (every numeric op);
* ``ids``: int64, never missing (vocabulary, bucketize);
* ``string``: string, :data:`MISSING_STRING` (``"\\x00"``) for missing (ONNX string tensors
  have no null; ``""`` stays the empty string, as in Python);
* ``onehot``: float ``[N, depth]``.

Ops that need a hash (``hash_strings``, ``cross``, a vocabulary with more than one OOV
bucket) or Unicode string functions have no standard ONNX form: they
raise :class:`~gristmill.engine.onnx_graph.ExportRefused` naming the op and the step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gristmill.engine.onnx_graph import ML_DOMAIN, ExportRefused, GraphBuilder

Value = tuple[str, str]  # (tensor name, form)
#: How a null string is fed to (and held in) the graph: a lone NUL character.
MISSING_STRING = "\x00"
_ARITH = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow"}
_UNARY = {"log": "Log", "exp": "Exp", "sqrt": "Sqrt", "abs": "Abs", "round": "Round",
          "floor": "Floor", "ceil": "Ceil"}
_COMPARE = {"lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual",
            "eq": "Equal"}


class TransformTranslator:
    """Translates the steps of one fitted transform into a :class:`GraphBuilder`.

    Args:
        builder: Where nodes go.
        transform: The ``FittedTransform``.
        raw: Raw column name -> its input value (``float`` or ``string`` form).
    """

    def __init__(self, builder: GraphBuilder, transform: Any, raw: dict[str, Value]):
        self.b = builder
        self.transform = transform
        self.raw = raw
        self.values: dict[str, Value] = {}

    def value(self, ref: str) -> Value:
        """The value of a ref (``input:<column>`` or a step id), translating on demand."""
        if ref.startswith("input:"):
            return self.raw[ref[len("input:"):]]
        if ref not in self.values:
            step = next(s for s in self.transform.steps if s["id"] == ref)
            for arg in step["args"]:
                if isinstance(arg, str):
                    self.value(arg)
            self.values[ref] = self._translate(step)
        return self.values[ref]

    # ------------------------------------------------------------------ conversions
    def as_float(self, v: Value | float) -> str:
        """Double form (constants become scalars)."""
        if isinstance(v, (int, float)):
            return self.b.const(float(v))
        name, form = v
        if form == "float":
            return name
        if form == "ids":
            return self.b.cast(name, np.float64)
        raise ExportRefused("as_float", name, f"a {form} value used as a number")

    def as_ids(self, v: Value) -> str:
        """int64 form: doubles truncated, missing -> -1."""
        name, form = v
        if form == "ids":
            return name
        if form == "float":
            return self.b.ids_from_double(name)
        raise ExportRefused("as_ids", name, f"a {form} value used as ids")

    def missing(self, v: Value) -> str | None:
        """Boolean missing mask, or ``None`` for forms that are never missing."""
        name, form = v
        if form == "float":
            return self.b.is_nan(name)
        if form == "string":
            return self.b.op("Equal", [name, self.b.const(MISSING_STRING, object)])
        return None

    # ------------------------------------------------------------------ dispatch
    def _translate(self, step: dict[str, Any]) -> Value:
        op = step["op"]
        handler = getattr(self, f"_op_{op}", None)
        where = f"step {step['id']} {step.get('label', op)}"
        if handler is None:
            raise ExportRefused(op, where, _REFUSED.get(op, "no ONNX translation"))
        args = [a if isinstance(a, (int, float)) else self.value(a) for a in step["args"]]
        try:
            return handler(args, step.get("params", {}))
        except ExportRefused as e:
            raise ExportRefused(op, where, str(e)) from e

    def _op_arith(self, args: list, p: dict) -> Value:
        a, b = self.as_float(args[0]), self.as_float(args[1])
        return self.b.op(_ARITH[p["fn"]], [a, b]), "float"

    def _op_unary(self, args: list, p: dict) -> Value:
        x = self.as_float(args[0])
        if p["fn"] == "log1p":
            return self.b.op("Log", [self.b.op("Add", [x, self.b.const(1.0)])]), "float"
        return self.b.op(_UNARY[p["fn"]], [x]), "float"

    def _op_clip(self, args: list, p: dict) -> Value:
        x = out = self.as_float(args[0])
        if p.get("min") is not None:
            out = self.b.op("Max", [out, self.b.const(float(p["min"]))])
        if p.get("max") is not None:
            out = self.b.op("Min", [out, self.b.const(float(p["max"]))])
        return self.b.mask_missing(out, self.b.is_nan(x)), "float"

    def _op_fill_missing(self, args: list, p: dict) -> Value:
        if isinstance(p["value"], str):
            name, form = args[0]
            if form != "string" or p["value"] == MISSING_STRING:
                raise ExportRefused("fill_missing", name, "string fill of a non-string value")
            return self.b.where(self.missing(args[0]), self.b.const(p["value"], object),
                                name), "string"
        x = self.as_float(args[0])
        return self.b.where(self.b.is_nan(x), self.b.const(float(p["value"])), x), "float"

    def _op_scale_to_z_score(self, args: list, p: dict) -> Value:
        centred = self.b.op("Sub", [self.as_float(args[0]), self.b.const(float(p["mean"]))])
        if p["std"] > 0:
            return self.b.op("Div", [centred, self.b.const(float(p["std"]))]), "float"
        return centred, "float"

    def _op_scale_by_min_max(self, args: list, p: dict) -> Value:
        x = self.as_float(args[0])
        lo, hi, out_lo, out_hi = (float(p[k]) for k in ("min", "max", "output_min",
                                                         "output_max"))
        if not hi > lo:
            return self.b.mask_missing(self.b.const((out_lo + out_hi) / 2.0),
                                       self.b.is_nan(x)), "float"
        unit = self.b.op("Div", [self.b.op("Sub", [x, self.b.const(lo)]), self.b.const(hi - lo)])
        scaled = self.b.op("Mul", [unit, self.b.const(out_hi - out_lo)])
        return self.b.op("Add", [scaled, self.b.const(out_lo)]), "float"

    def _op_bucketize(self, args: list, p: dict) -> Value:
        x = self.as_float(args[0])
        boundaries = np.asarray(p["boundaries"], np.float64).reshape(1, -1)
        above = self.b.op("GreaterOrEqual", [self.b.column(x), self.b.const(boundaries)])
        ids = self.b.op("ReduceSum", [self.b.cast(above, np.int64), self.b.const([1], np.int64)],
                        keepdims=0)
        return self.b.where(self.b.is_nan(x), self.b.const(boundaries.size + 1, np.int64),
                            ids), "ids"

    def _op_one_hot(self, args: list, p: dict) -> Value:
        ids = self.b.column(self.as_ids(args[0]))
        depth = np.arange(int(p["depth"]), dtype=np.int64).reshape(1, -1)
        hot = self.b.op("Equal", [ids, self.b.const(depth, np.int64)])
        return self.b.cast(hot, np.float32), "onehot"

    def _per_key(self, args: list, table: str, values: list[float]) -> str:
        return self.b.op("Gather", [self.b.const(values), self.as_ids(args[1])], hint=table)

    def _op_z_score_per_key(self, args: list, p: dict) -> Value:
        x = self.as_float(args[0])
        m, s = self._per_key(args, "means", p["means"]), self._per_key(args, "stds", p["stds"])
        positive = self.b.op("Greater", [s, self.b.const(0.0)])
        centred = self.b.op("Sub", [x, m])
        safe = self.b.where(positive, s, self.b.const(1.0))
        return self.b.where(positive, self.b.op("Div", [centred, safe]), centred), "float"

    def _op_min_max_per_key(self, args: list, p: dict) -> Value:
        x = self.as_float(args[0])
        lo, hi = self._per_key(args, "mins", p["mins"]), self._per_key(args, "maxs", p["maxs"])
        out_lo, out_hi = float(p["output_min"]), float(p["output_max"])
        wide = self.b.op("Greater", [hi, lo])
        span = self.b.where(wide, self.b.op("Sub", [hi, lo]), self.b.const(1.0))
        unit = self.b.op("Div", [self.b.op("Sub", [x, lo]), span])
        scaled = self.b.op("Add", [self.b.op("Mul", [unit, self.b.const(out_hi - out_lo)]),
                                   self.b.const(out_lo)])
        mid = self.b.mask_missing(self.b.const((out_lo + out_hi) / 2.0), self.b.is_nan(x))
        return self.b.where(wide, scaled, mid), "float"

    def _op_vocabulary(self, args: list, p: dict) -> Value:
        tokens = self.transform.vocabularies[p["vocabulary"]]
        n_oov = int(p.get("num_oov_buckets", 0))
        if n_oov > 1:
            raise ExportRefused("vocabulary", p["vocabulary"],
                                f"num_oov_buckets={n_oov} sends unknown values to a BLAKE2b "
                                "hash bucket, which no ONNX operator computes")
        default = len(tokens) if n_oov == 1 else int(p.get("default_value", -1))
        return lookup(self.b, args[0], tokens, default, p["vocabulary"]), "ids"

    def _op_compare(self, args: list, p: dict) -> Value:
        a, b = self.as_float(args[0]), self.as_float(args[1])
        if p["fn"] == "ne":
            flag = self.b.op("Not", [self.b.op("Equal", [a, b])])
        else:
            flag = self.b.op(_COMPARE[p["fn"]], [a, b])
        return self._mask_any(self.b.bool_to_double(flag), args), "float"

    def _op_compare_strings(self, args: list, p: dict) -> Value:
        (x, form), other = args[0], (args[1] if len(args) > 1 else None)
        if form != "string" or (other is not None and other[1] != "string") or \
                p.get("value") == MISSING_STRING:
            raise ExportRefused("compare_strings", x, "a comparison with a missing string")
        rhs = other[0] if other is not None else self.b.const(p["value"], object)
        flag = self.b.op("Equal", [x, rhs])
        if p["fn"] == "ne":
            flag = self.b.op("Not", [flag])
        return self._mask_any(self.b.bool_to_double(flag), args), "float"

    def _op_logical(self, args: list, p: dict) -> Value:
        truth = [self.b.op("Not", [self.b.op("Equal", [self.as_float(a), self.b.const(0.0)])])
                 for a in args]
        if p["fn"] == "not":
            out = self.b.op("Not", [truth[0]])
        else:
            out = self.b.op("And" if p["fn"] == "and" else "Or", truth[:2])
        return self._mask_any(self.b.bool_to_double(out), args), "float"

    def _op_where(self, args: list, p: dict) -> Value:
        cond, x, y = (self.as_float(a) for a in args)
        true = self.b.op("Not", [self.b.op("Equal", [cond, self.b.const(0.0)])])
        shape = self.b.op("Shape", [cond])
        x, y = (self.b.op("Expand", [v, shape]) for v in (x, y))
        return self.b.mask_missing(self.b.where(true, x, y), self.b.is_nan(cond)), "float"

    def _op_cast(self, args: list, p: dict) -> Value:
        x = self.as_float(args[0])
        return (self.b.trunc(x) if p["to"] == "integer" else x), "float"

    def _op_as_string(self, args: list, p: dict) -> Value:
        name, form = args[0]
        if form == "string":
            return name, "string"
        ids = self.as_ids(args[0])
        text = self.b.cast(ids, object)
        missing = self.missing(args[0])
        return (self.b.where(missing, self.b.const(MISSING_STRING, object), text)
                if missing else text,
                "string")

    def _op_is_missing(self, args: list, p: dict) -> Value:
        flag = self.missing(args[0])
        if flag is None:
            return self.b.op("ConstantOfShape", [self.b.op("Shape", [args[0][0]])],
                             value=_double_tensor(0.0)), "float"
        return self.b.bool_to_double(flag), "float"

    def _op_constant(self, args: list, p: dict) -> Value:
        shape = self.b.op("Shape", [args[0][0]])
        return self.b.op("ConstantOfShape", [shape],
                         value=_double_tensor(float(p["value"]))), "float"

    def _op_date_part(self, args: list, p: dict) -> Value:
        from gristmill.engine.onnx_dates import date_part

        return date_part(self.b, self.as_float(args[0]), p["part"]), "float"

    def _mask_any(self, out: str, args: list) -> str:
        masks = [m for a in args if not isinstance(a, (int, float))
                 for m in [self.missing(a)] if m is not None]
        if not masks:
            return out
        any_missing = masks[0]
        for m in masks[1:]:
            any_missing = self.b.op("Or", [any_missing, m])
        return self.b.mask_missing(out, any_missing)


_REFUSED = {
    "hash_strings": "stable BLAKE2b hashing has no ONNX operator",
    "cross": "a feature cross hashes with BLAKE2b, which has no ONNX operator",
    "string_op": "lower/upper/strip/regex_replace/substr on Unicode strings have no standard "
                 "ONNX operator with the same semantics",
    "string_length": "no standard ONNX operator counts Unicode characters",
}


def _double_tensor(value: float) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.array([value], np.float64))


def lookup(b: GraphBuilder, value: Value, tokens: list[str], default: int, what: str) -> str:
    """Vocabulary ids via ``ai.onnx.ml.LabelEncoder``: unknown and missing -> ``default``.

    Strings match tokens exactly; numbers match tokens read as numbers (a vocabulary of an
    integer column holds ``"3"``, Arrow's text of 3). A vocabulary holding
    :data:`MISSING_STRING` is refused: that is how a missing string reaches the graph.
    """
    name, form = value
    if form == "onehot":
        raise ExportRefused("vocabulary", what, "a vocabulary of a one-hot value")
    if form == "string":
        if MISSING_STRING in tokens:
            raise ExportRefused("vocabulary", what, "the vocabulary holds a lone NUL "
                                "character, which the ONNX graph uses for a missing value")
        return b.op("LabelEncoder", [name], domain=ML_DOMAIN, keys_strings=list(tokens),
                    values_int64s=list(range(len(tokens))), default_int64=int(default))
    keys, ids = numeric_keys(tokens)
    x = b.cast(name, np.float64) if form == "ids" else name
    if not keys:
        return b.op("ConstantOfShape", [b.op("Shape", [x])],
                    value=_int_tensor(default))
    from onnx import numpy_helper

    return b.op("LabelEncoder", [x], domain=ML_DOMAIN,
                keys_tensor=numpy_helper.from_array(np.asarray(keys, np.float64)),
                values_tensor=numpy_helper.from_array(np.asarray(ids, np.int64)),
                default_tensor=numpy_helper.from_array(np.array([default], np.int64)))


def numeric_keys(tokens: list[str]) -> tuple[list[float], list[int]]:
    """Tokens that read as finite numbers (``true``/``false`` as 1/0), with their ids."""
    keys, ids, seen = [], [], set()
    for i, token in enumerate(tokens):
        number = {"true": 1.0, "false": 0.0}.get(token)
        if number is None:
            try:
                number = float(token)
            except ValueError:
                continue  # a number never equals this token
        if np.isfinite(number) and number not in seen:
            seen.add(number)
            keys.append(number)
            ids.append(i)
    return keys, ids


def _int_tensor(value: int) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.array([value], np.int64))
