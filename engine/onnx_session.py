"""Open an ONNX graph in onnxruntime, without importing torch.

Serving an ONNX bundle (the InfraValidator's server, ``ServingBundle`` with
``backend="onnx"``, raw-record graphs) needs onnxruntime only; importing torch for it cost
the InfraValidator's serving process ~1.3 s of its ~1.8 s start. The export side
(:mod:`gristmill.engine.export`, which needs torch) re-exports these names.
"""

from __future__ import annotations

from typing import Any

#: Input names of the tensor graph (``model_tensors.onnx``): numeric and categorical tensors.
INPUT_NAMES = ["numeric", "categorical"]
#: Output name of the tensor graph.
OUTPUT_NAME = "outputs"


def onnx_session(path: str, threads: int = 1) -> Any:
    """An onnxruntime CPU session tuned for single-record latency."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
