"""Export a trained model as a ``torch.export`` program and as ONNX.

Both take the model's tensor inputs (``numeric`` float32 ``[batch, F]``, ``categorical``
int64 ``[batch, C]``) with a dynamic batch dimension; string lookups stay in front, in the
bundle's encoder or fitted transform. Each export is checked against the eager model.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

PROGRAM_FILE = "program.pt2"
ONNX_FILE = "model.onnx"
INPUT_NAMES = ["numeric", "categorical"]
OUTPUT_NAME = "outputs"
#: Exports whose outputs differ from the eager model by more than this are discarded.
TOLERANCE = 1e-4


def example_inputs(num_numeric: int, cardinalities: list[int],
                   batch: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic CPU inputs for tracing; batch > 1 so the batch dim stays symbolic."""
    gen = torch.Generator().manual_seed(0)
    numeric = torch.randn(batch, num_numeric, generator=gen)
    cats = [torch.randint(0, max(c, 1), (batch,), generator=gen) for c in cardinalities]
    categorical = torch.stack(cats, dim=1) if cats else torch.zeros(batch, 0, dtype=torch.int64)
    return numeric, categorical


def _dynamic_shapes() -> tuple[dict[int, Any], dict[int, Any]]:
    batch = torch.export.Dim("batch", min=1, max=2**20)
    return {0: batch}, {0: batch}


def export_program(model: nn.Module, inputs: tuple[torch.Tensor, ...], directory: str) -> str:
    """Write ``program.pt2`` (a ``torch.export`` ExportedProgram) and return its path.

    Raises:
        RuntimeError: The program's outputs differ from the eager model's.
    """
    model = model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        program = torch.export.export(model, inputs, dynamic_shapes=_dynamic_shapes())
    path = os.path.join(directory, PROGRAM_FILE)
    torch.export.save(program, path)
    with torch.no_grad():
        expected = model(*inputs)
        got = torch.export.load(path).module()(*inputs)
    _check_close(expected.numpy(), got.numpy(), "torch.export program")
    return path


def export_onnx(model: nn.Module, inputs: tuple[torch.Tensor, ...], directory: str) -> str:
    """Write ``model.onnx`` (dynamo exporter, batch dim dynamic) and return its path.

    Raises:
        RuntimeError: onnxruntime's outputs differ from the eager model's.
    """
    model = model.eval()
    path = os.path.join(directory, ONNX_FILE)
    noisy = logging.getLogger("torch.onnx")
    level = noisy.level
    noisy.setLevel(logging.ERROR)  # "torchvision is not installed" lines are irrelevant here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, inputs, path, dynamo=True, input_names=INPUT_NAMES,
                              output_names=[OUTPUT_NAME], dynamic_shapes=_dynamic_shapes(),
                              external_data=False, verbose=False)
    finally:
        noisy.setLevel(level)
    with torch.no_grad():
        expected = model(*inputs).numpy()
    session = onnx_session(path)
    feeds = dict(zip(INPUT_NAMES, (t.numpy() for t in inputs), strict=True))
    got = session.run([OUTPUT_NAME], feeds)[0]
    _check_close(expected, got, "ONNX model")
    return path


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


def _check_close(expected: np.ndarray, got: np.ndarray, what: str) -> None:
    diff = float(np.max(np.abs(expected - got))) if expected.size else 0.0
    if expected.shape != got.shape or diff > TOLERANCE:
        raise RuntimeError(f"{what} disagrees with the eager model: shape {got.shape} vs "
                           f"{expected.shape}, max abs diff {diff:.3g} > {TOLERANCE}")


def export_all(model: nn.Module, inputs: tuple[torch.Tensor, ...], directory: str,
               formats: tuple[str, ...] = ("program", "onnx"),
               ) -> tuple[dict[str, str], dict[str, str]]:
    """Try each export; return ``(format -> file name, format -> error)``.

    A failed export is recorded (and logged), never fatal: the safetensors weights always
    serve through eager PyTorch.
    """
    done, errors = {}, {}
    exporters = {"program": export_program, "onnx": export_onnx}
    cpu_model = model.to("cpu").eval()
    for fmt in formats:
        try:
            path = exporters[fmt](cpu_model, inputs, directory)
            done[fmt] = os.path.basename(path)
        except Exception as e:  # an export the graph does not allow must not fail training
            errors[fmt] = f"{type(e).__name__}: {str(e)[:500]}"
            log.warning("%s export skipped: %s", fmt, errors[fmt])
    return done, errors
