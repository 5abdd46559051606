"""The raw-record ONNX graph: raw columns in, predictions out, the fitted transform inside.

``model.onnx`` (written by :func:`export_raw_onnx`) has one input per raw column the model
reads, in :func:`~gristmill.engine.serving_input.model_raw_inputs` order, each ``[N]``:

* numbers (integers, floats, booleans, dates as numbers) as ``double``, NaN for null;
* strings as ``string``, ``"\\x00"`` (:data:`~.onnx_transform.MISSING_STRING`, a lone NUL
  character) for null: ONNX string tensors have no null, and ``""`` is a value.

Inside: the encoder (the fitted transform's steps, see :mod:`.onnx_transform`, or the
built-in encoder's vocabularies), the model, then the label head. Outputs: classification
``probabilities`` (float32 ``[N, K]``, ``classes`` order) and ``prediction`` (the class,
typed like the label); regression ``prediction`` (double ``[N]``).

Before the file is written the graph is run on generated rows (nulls, unseen strings,
out-of-range numbers) and compared with the Python serving path; a graph that disagrees by
more than :data:`PARITY_TOLERANCE`, or a step with no ONNX form, is refused and the bundle
serves through Python as before (``bundle.json``'s ``export_errors`` says why).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gristmill.engine.onnx_graph import ExportRefused, GraphBuilder, make_model
from gristmill.engine.onnx_transform import MISSING_STRING
from gristmill.engine.serving_input import STRING, RawInput

RAW_ONNX_FILE = "model.onnx"
#: Largest difference (probabilities, standardized regression value) an export may show.
PARITY_TOLERANCE = 1e-5
_LABEL_NUMPY = {"string": object, "large_string": object, "bool": np.bool_, "double": np.float64,
                "float": np.float32}


def build_raw_graph(model: Any, encoder: Any, label: Any, inputs: list[RawInput],
                    tensor_onnx: str | None = None, example: tuple | None = None) -> Any:
    """The raw-record ``onnx.ModelProto`` (checked, not yet compared with Python).

    Raises:
        ExportRefused: A transform step or encoder column has no ONNX form.
    """
    from onnx import TensorProto, helper

    b = GraphBuilder()
    raw = {i.name: (i.name, "string" if i.kind == STRING else "float") for i in inputs}
    numeric, categorical = _encoder_columns(b, encoder, raw)
    logits = _model_output(b, model, numeric, categorical, tensor_onnx, example)
    outputs = _label_head(b, label, logits)
    graph_inputs = [helper.make_tensor_value_info(
        i.name, TensorProto.STRING if i.kind == STRING else TensorProto.DOUBLE, ["N"])
        for i in inputs]
    return make_model(b, graph_inputs, outputs, "gristmill_raw_record",
                      doc="raw columns -> fitted transform -> model -> prediction")


def _encoder_columns(b: GraphBuilder, encoder: Any, raw: dict) -> tuple[list, list]:
    """``([N, k] float32 numeric blocks], [[N] int64 categorical columns])``."""
    from gristmill.engine.onnx_transform import TransformTranslator, lookup

    transform = getattr(encoder, "transform", None)
    if transform is None:  # the built-in encoder: numbers as is, strings via vocabularies
        numeric = [b.column(b.cast(_need(raw, n, "float"), np.float32))
                   for n in encoder.numeric_names]
        categorical = [lookup(b, raw[n], encoder.vocabularies[n], -1, n)
                       for n in encoder.categorical_names]
        return numeric, categorical
    translator = TransformTranslator(b, transform, raw)
    numeric = []
    for feature in encoder._numeric:
        name, form = translator.value(transform.output_ref(feature.name))
        if form == "onehot":
            numeric.append(name)
        else:
            numeric.append(b.column(b.cast(translator.as_float((name, form)), np.float32)))
    categorical = [translator.as_ids(translator.value(transform.output_ref(n)))
                   for n in encoder.categorical_names]
    return numeric, categorical


def _need(raw: dict, name: str, form: str) -> str:
    value, got = raw[name]
    if got != form:
        raise ExportRefused("encoder", name, f"column {name!r} is {got}, the model reads {form}")
    return value


def _model_output(b: GraphBuilder, model: Any, numeric: list, categorical: list,
                  tensor_onnx: str | None, example: tuple | None) -> str:
    from gristmill.engine.onnx_model import add_model

    num = cat = None
    if numeric:
        num = numeric[0] if len(numeric) == 1 else b.op("Concat", numeric, axis=1)
    if categorical:
        columns = [b.column(c) for c in categorical]
        cat = columns[0] if len(columns) == 1 else b.op("Concat", columns, axis=1)
    return add_model(b, model, num, cat, tensor_onnx, example)


def _label_head(b: GraphBuilder, label: Any, logits: str) -> list:
    from onnx import TensorProto, helper

    if label.task == "regression":
        first = b.op("Gather", [logits, b.const(0, np.int64)], axis=1)
        value = b.op("Mul", [b.cast(first, np.float64), b.const(float(label.target_std))])
        b.op("Add", [value, b.const(float(label.target_mean))], output="prediction")
        return [helper.make_tensor_value_info("prediction", TensorProto.DOUBLE, ["N"])]
    b.op("Softmax", [logits], axis=1, output="probabilities")
    index = b.op("ArgMax", ["probabilities"], axis=1, keepdims=0)
    classes = np.asarray(label.classes, _LABEL_NUMPY.get(label.arrow_type, np.int64))
    b.op("Gather", [b.const(classes, classes.dtype), index], output="prediction")
    elem = helper.np_dtype_to_tensor_dtype(classes.dtype)
    return [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                          ["N", len(classes)]),
            helper.make_tensor_value_info("prediction", elem, ["N"])]


# ---------------------------------------------------------------------- feeding and checking
def raw_feeds(table: pa.Table, inputs: list[RawInput]) -> dict[str, np.ndarray]:
    """The ONNX inputs for a table of raw columns (already conformed to ``inputs``)."""
    from gristmill.engine.transform_kernels import as_array, temporal_as_number

    feeds = {}
    for spec in inputs:
        column = as_array(table.column(spec.name))
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if spec.kind == STRING:
            text = pc.fill_null(pc.cast(column, pa.string()), MISSING_STRING)
            feeds[spec.name] = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
            continue
        if pa.types.is_temporal(column.type):
            column = temporal_as_number(column)
        number = pc.cast(column, pa.float64())
        feeds[spec.name] = pc.fill_null(number, np.nan).to_numpy(zero_copy_only=False)
    return feeds


def sample_table(encoder: Any, inputs: list[RawInput], rows: int = 96, seed: int = 0
                 ) -> pa.Table:
    """Generated raw rows for the export check: nulls, unseen strings, vocabulary hits,
    negative, fractional and large numbers in every column."""
    rng = np.random.default_rng(seed)
    tokens = _known_tokens(encoder)
    columns = {}
    for spec in inputs:
        missing = rng.random(rows) < 0.15
        if spec.kind == STRING:
            pool = np.asarray([*tokens[:200], "__unseen__", "Unseen Value"], dtype=object)
            columns[spec.name] = pa.array(rng.choice(pool, rows), pa.string(), mask=missing)
            continue
        known = [float(t) for t in tokens if _is_number(t)] or [0.0]
        values = np.where(rng.random(rows) < 0.5, rng.choice(known, rows),
                          rng.normal(0.0, 1.0, rows) * 10.0 ** rng.integers(0, 4, rows))
        if spec.kind == "integer":
            columns[spec.name] = pa.array(np.round(values).astype(np.int64), mask=missing)
        elif spec.kind == "boolean":
            columns[spec.name] = pa.array(values > 0, mask=missing)
        else:
            columns[spec.name] = pa.array(values, pa.float64(), mask=missing)
    return pa.table(columns) if columns else pa.table({"_": pa.nulls(rows)}).select([])


def _known_tokens(encoder: Any) -> list[str]:
    transform = getattr(encoder, "transform", None)
    vocabularies = transform.vocabularies if transform is not None else encoder.vocabularies
    return [t for tokens in vocabularies.values() for t in tokens[:50]]


def _is_number(token: str) -> bool:
    try:
        return bool(np.isfinite(float(token)))
    except ValueError:
        return False


def python_predictions(model: Any, encoder: Any, label: Any, table: pa.Table) -> pa.Table:
    """What the Python serving path answers for ``table`` (the reference of the check)."""
    import torch

    from gristmill.engine.features import TransformFeatureEncoder, stack_columns

    transform = getattr(encoder, "transform", None)
    if transform is not None:  # serving always transforms, whatever training read
        encoder = TransformFeatureEncoder(transform, label.key)
    numeric, categorical = stack_columns(encoder.encode(table))
    with torch.no_grad():
        outputs = model(torch.from_numpy(numeric), torch.from_numpy(categorical)).float().numpy()
    return pa.table(label.decode(outputs))


def largest_difference(expected: pa.Table, got: dict[str, np.ndarray], label: Any) -> float:
    """Max abs difference of probabilities, or of standardized regression values (relative
    where they exceed 1: float32 keeps 7 digits); ``inf`` when a predicted class differs."""
    if label.task == "regression":  # in standardized units, relative beyond 1
        std = max(float(label.target_std), 1e-12)
        want = (expected.column("prediction").to_numpy() - label.target_mean) / std
        have = (got["prediction"] - label.target_mean) / std
        return float(np.max(np.abs(want - have) / np.maximum(1.0, np.abs(want)), initial=0.0))
    probs = np.asarray(expected.column("probabilities").to_pylist(), np.float32)
    diff = float(np.max(np.abs(probs - got["probabilities"]), initial=0.0)) if probs.size else 0.0
    same = expected.column("prediction").to_pylist() == got["prediction"].tolist()
    return diff if same or diff > PARITY_TOLERANCE else float("inf")


def export_raw_onnx(model: Any, encoder: Any, label: Any, inputs: list[RawInput],
                    directory: str, tensor_onnx: str | None = None,
                    example: tuple | None = None) -> str:
    """Build, check against the Python path on generated rows, and write ``model.onnx``.

    Returns:
        The path written.

    Raises:
        ExportRefused: A step has no ONNX form (the op is named); nothing is written.
        RuntimeError: The graph disagrees with the Python path; nothing is written.
    """
    from gristmill.engine.onnx_session import onnx_session

    graph = build_raw_graph(model.eval(), encoder, label, inputs, tensor_onnx, example)
    path = os.path.join(directory, RAW_ONNX_FILE)
    partial = path + ".partial"
    with open(partial, "wb") as f:
        f.write(graph.SerializeToString())
    try:
        table = sample_table(encoder, inputs)
        session = onnx_session(partial)
        names = [o.name for o in session.get_outputs()]
        got = dict(zip(names, session.run(names, raw_feeds(table, inputs)), strict=True))
        diff = largest_difference(python_predictions(model, encoder, label, table), got, label)
        if not diff <= PARITY_TOLERANCE:
            raise RuntimeError(f"raw-record ONNX disagrees with the Python serving path on "
                               f"generated rows: max abs difference {diff:.3g} > "
                               f"{PARITY_TOLERANCE}")
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path
