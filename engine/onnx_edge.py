"""Edge models: the raw-record graph with int8 weights, and what it costs and saves.

:func:`quantize_int8` writes ``model_int8.onnx`` beside ``model.onnx`` with onnxruntime's
dynamic quantization (``MatMul`` weights and embedding tables as int8, activations
quantized per batch at run time). :func:`edge_report` measures both graphs on labelled raw
rows and one-record latency on the CPU; :func:`write_edge_report` stores it as
``edge_report.json`` in the model directory (keys documented in docs/components/trainer.md).
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from typing import Any

import numpy as np
import pyarrow as pa

INT8_FILE = "model_int8.onnx"
EDGE_REPORT_FILE = "edge_report.json"
EDGE_REPORT_FORMAT = "gristmill.edge_report/1"
LATENCY_CALLS = 300
MAX_ROWS = 20_000


def quantize_int8(directory: str) -> str:
    """Quantize ``directory/model.onnx`` to ``directory/model_int8.onnx`` and return its path.

    Raises:
        RuntimeError: The quantized graph does not load or does not run on one record.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from gristmill.engine.onnx_raw import RAW_ONNX_FILE
    from gristmill.engine.onnx_session import onnx_session

    source, target = os.path.join(directory, RAW_ONNX_FILE), os.path.join(directory, INT8_FILE)
    advice = _DropAdvice()
    logging.getLogger().addFilter(advice)  # "consider pre-processing": not for these graphs
    try:
        quantize_dynamic(source, target, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gather"])
    finally:
        logging.getLogger().removeFilter(advice)
    session = onnx_session(target)
    reference = onnx_session(source)
    feeds = _one_record_feeds(reference)
    names = [o.name for o in session.get_outputs()]
    if names != [o.name for o in reference.get_outputs()]:
        raise RuntimeError(f"{target}: outputs {names} differ from {source}'s")
    session.run(names, feeds)
    return target


class _DropAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def _one_record_feeds(session: Any) -> dict[str, np.ndarray]:
    from gristmill.engine.onnx_transform import MISSING_STRING

    return {i.name: (np.array([MISSING_STRING], object) if i.type == "tensor(string)"
                     else np.array([np.nan])) for i in session.get_inputs()}


def edge_report(uri: str, rows: pa.Table | None, source: str = "") -> dict[str, Any]:
    """Size, accuracy against float, and one-record CPU latency of ``model_int8.onnx``.

    Args:
        uri: The model directory (holding ``model.onnx`` and ``model_int8.onnx``).
        rows: Labelled raw rows (at most :data:`MAX_ROWS` are used); ``None`` leaves the
            accuracy fields ``null``.
        source: Where ``rows`` came from, recorded as ``eval_source``.
    """
    from gristmill.engine.onnx_runtime import load_raw_onnx

    models = {"float": load_raw_onnx(uri, "onnx"), "int8": load_raw_onnx(uri, "onnx_int8")}
    report: dict[str, Any] = {"format": EDGE_REPORT_FORMAT}
    for kind, model in models.items():
        report[kind] = {"file": os.path.basename(model.path),
                        "bytes": os.path.getsize(model.path)}
    report["size_ratio"] = round(report["int8"]["bytes"] / report["float"]["bytes"], 4)
    report.update(_accuracy(models, rows, source))
    sample = rows if rows is not None and rows.num_rows else None
    for kind, model in models.items():
        report[kind].update(one_record_latency(model, sample))
    report["latency"] = {"calls": LATENCY_CALLS, "threads": 1, "device": "cpu",
                         "what": "onnxruntime session.run on one raw record (feeds ready)"}
    return report


def _accuracy(models: dict[str, Any], rows: pa.Table | None, source: str) -> dict[str, Any]:
    float_model = models["float"]
    label = float_model.label_key
    empty = {"metric": None, "metric_delta": None, "agreement": None, "eval_rows": 0,
             "eval_source": source or None}
    if rows is None or label not in rows.column_names:
        return empty
    rows = rows.slice(0, MAX_ROWS).filter(pa.compute.is_valid(rows.column(label)))
    if not rows.num_rows:
        return empty
    truth = rows.column(label).to_pylist()
    predicted = {k: m.predict(rows) for k, m in models.items()}
    out: dict[str, Any] = {"eval_rows": rows.num_rows, "eval_source": source or None}
    if float_model.task == "regression":
        values = {k: p.column("prediction").to_numpy() for k, p in predicted.items()}
        rmse = {k: float(np.sqrt(np.mean((v - np.asarray(truth, np.float64)) ** 2)))
                for k, v in values.items()}
        out.update({"metric": "rmse", "metric_delta": rmse["int8"] - rmse["float"],
                    "float_rmse": rmse["float"], "int8_rmse": rmse["int8"], "agreement": None,
                    "max_abs_difference": float(np.max(np.abs(values["int8"] -
                                                              values["float"])))})
        return out
    labels = {k: p.column("prediction").to_pylist() for k, p in predicted.items()}
    accuracy = {k: float(np.mean([a == t for a, t in zip(v, truth, strict=True)]))
                for k, v in labels.items()}
    probs = {k: np.asarray(p.column("probabilities").to_pylist(), np.float32)
             for k, p in predicted.items()}
    out.update({"metric": "accuracy", "metric_delta": accuracy["int8"] - accuracy["float"],
                "agreement": float(np.mean([a == b for a, b in zip(labels["int8"],
                                                                  labels["float"], strict=True)])),
                "max_probability_difference": float(np.max(np.abs(probs["int8"] -
                                                                  probs["float"])))})
    for k in models:
        out[f"{k}_accuracy"] = accuracy[k]
    return out


def one_record_latency(model: Any, rows: pa.Table | None, calls: int = LATENCY_CALLS
                       ) -> dict[str, float]:
    """p50/p99 milliseconds of ``session.run`` on one raw record (cycling through ``rows``)."""
    from gristmill.engine.onnx_raw import raw_feeds
    from gristmill.engine.serving_input import conform_table

    if rows is not None:
        table, _ = conform_table(rows.slice(0, 64), model.inputs, label_key=model.label_key)
        feeds = [raw_feeds(table.slice(i, 1), model.inputs) for i in range(table.num_rows)]
    else:
        feeds = [_one_record_feeds(model.session)]
    model.run(feeds[0])  # warm-up
    times = []
    for i in range(calls):
        start = time.perf_counter()
        model.run(feeds[i % len(feeds)])
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 4),
            "p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 4)}


def write_edge_report(uri: str, rows: pa.Table | None, source: str = "") -> dict[str, Any]:
    """Compute :func:`edge_report` and write it to ``uri/edge_report.json``."""
    report = edge_report(uri, rows, source)
    with open(os.path.join(uri, EDGE_REPORT_FILE), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    return report
