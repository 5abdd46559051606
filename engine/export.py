"""Export a trained model: ``torch.export`` program, raw-record ONNX, tensor ONNX, int8.

Formats (``exports=`` of :func:`export_all`, the Trainer's ``TrainerConfig.exports``):

* ``program``: ``program.pt2`` (torch.export) on the tensor inputs;
* ``onnx``: ``model.onnx``, the raw-record graph (raw columns in, the fitted transform and
  the model inside, predictions out; see :mod:`.onnx_raw`), plus ``model_tensors.onnx`` on
  the tensor inputs (``numeric`` float32 ``[batch, F]``, ``categorical`` int64
  ``[batch, C]``), which ``load_bundle(backend="onnx")`` runs behind the Python encoder;
* ``onnx_int8``: ``model_int8.onnx``, the raw-record graph with dynamically quantized int8
  weights (see :mod:`.onnx_edge`); implies ``onnx``.

Each export is checked (against the eager model, or the Python serving path); one that
fails or cannot be expressed is recorded in ``export_errors`` and the bundle serves as before.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from gristmill.engine.device import cpu_thread_limit
from gristmill.engine.onnx_session import INPUT_NAMES, OUTPUT_NAME, onnx_session

log = logging.getLogger(__name__)

PROGRAM_FILE = "program.pt2"
ONNX_FILE = "model_tensors.onnx"
FORMATS = ("program", "onnx", "onnx_int8")
#: Exports whose outputs differ from the eager model by more than this (absolute up to 1,
#: relative beyond: float32 keeps ~7 digits of a logit of 1,000) are discarded.
TOLERANCE = 1e-4
__all__ = ["FORMATS", "INPUT_NAMES", "ONNX_FILE", "OUTPUT_NAME", "PROGRAM_FILE", "TOLERANCE",
           "example_inputs", "export_all", "onnx_session"]


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


def export_program(model: nn.Module, inputs: tuple[torch.Tensor, ...], directory: str,
                   traced: dict[str, Any] | None = None) -> str:
    """Write ``program.pt2`` (a ``torch.export`` ExportedProgram) and return its path.

    Args:
        traced: When given, the verified in-memory program is stored under ``"program"``
            so :func:`export_onnx` can reuse the trace instead of tracing again.

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
    if traced is not None:
        traced["program"] = program
    return path


def export_onnx(model: nn.Module, inputs: tuple[torch.Tensor, ...], directory: str,
                program: Any = None) -> str:
    """Write ``model_tensors.onnx`` (tensor inputs, batch dim dynamic) and return its path.

    Built-in models are written straight from their weights (milliseconds); other modules
    go through the dynamo exporter, from ``program`` (the verified ``torch.export`` program
    of this very model, see :func:`export_program`) when given, so the model is traced once
    for both exports; should that fail or disagree, the model is exported as before. Every
    file written is checked against the eager model.

    Raises:
        RuntimeError: onnxruntime's outputs differ from the eager model's.
    """
    model = model.eval()
    path = os.path.join(directory, ONNX_FILE)
    from gristmill.engine.onnx_model import write_builtin_tensor_graph

    if write_builtin_tensor_graph(model, path):
        _check_onnx(model, inputs, path)
        return path
    if program is not None:
        try:
            _dynamo_export(program, inputs, path)
            _check_onnx(model, inputs, path)
            return path
        except Exception as e:  # the module itself may still export: try it as before
            log.info("ONNX export from the torch.export program failed (%s: %s); exporting "
                     "the module", type(e).__name__, str(e)[:200])
    _dynamo_export(model, inputs, path)
    _check_onnx(model, inputs, path)
    return path


def _check_onnx(model: nn.Module, inputs: tuple[torch.Tensor, ...], path: str) -> None:
    """onnxruntime on ``path`` must match the eager model on ``inputs``."""
    with torch.no_grad():
        expected = model(*inputs).numpy()
    session = onnx_session(path)
    feeds = dict(zip(INPUT_NAMES, (t.numpy() for t in inputs), strict=True))
    got = session.run([OUTPUT_NAME], feeds)[0]
    _check_close(expected, got, "ONNX model")


def _dynamo_export(model: Any, inputs: tuple[torch.Tensor, ...], path: str) -> None:
    """``torch.onnx.export`` of a module or of an ``ExportedProgram`` (already dynamic)."""
    shapes = None if isinstance(model, torch.export.ExportedProgram) else _dynamic_shapes()
    noisy = logging.getLogger("torch.onnx")
    level = noisy.level
    noisy.setLevel(logging.ERROR)  # "torchvision is not installed" lines are irrelevant here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, inputs, path, dynamo=True, input_names=INPUT_NAMES,
                              output_names=[OUTPUT_NAME], dynamic_shapes=shapes,
                              external_data=False, verbose=False)
    finally:
        noisy.setLevel(level)


def _check_close(expected: np.ndarray, got: np.ndarray, what: str) -> None:
    """``got`` must match ``expected`` within :data:`TOLERANCE` (relative where |x| > 1).

    The example inputs are random, so raw numeric features far from their training range
    (a year standardized from 0.0) give logits in the thousands; an absolute bound refused
    exact float32 graphs there (a difference of one float32 step, 1.2e-4 at 1,676).
    """
    if expected.shape != got.shape:
        raise RuntimeError(f"{what} disagrees with the eager model: shape {got.shape} vs "
                           f"{expected.shape}")
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, settled on the next line
        error = np.abs(expected - got) / np.maximum(1.0, np.abs(expected))
    # Identical values (infinities too) and NaN where eager says NaN agree.
    error[(expected == got) | (np.isnan(expected) & np.isnan(got))] = 0.0
    diff = float(np.max(error, initial=0.0))
    if not diff <= TOLERANCE:  # any other NaN disagrees
        raise RuntimeError(f"{what} disagrees with the eager model: max difference "
                           f"{diff:.3g} (relative where |value| > 1) > {TOLERANCE}")


def export_all(model: nn.Module, inputs: tuple[torch.Tensor, ...], directory: str,
               formats: tuple[str, ...] = ("onnx",), *, encoder: Any = None,
               label: Any = None, raw_inputs: list | None = None,
               ) -> tuple[dict[str, str], dict[str, str]]:
    """Try each export; return ``(format -> file name, format -> error)``.

    ``onnx`` writes the tensor graph (key ``onnx_tensors``) and, given ``encoder``, ``label``
    and ``raw_inputs``, the raw-record graph (key ``onnx``); ``onnx_int8`` quantizes the
    latter. A failed export is recorded (and logged), never fatal: the safetensors weights
    always serve through eager PyTorch and the Python encoder. A custom model is traced once:
    the ONNX export reuses the verified ``program`` trace.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown export format(s) {unknown}; expected some of {FORMATS}")
    done: dict[str, str] = {}
    errors: dict[str, str] = {}
    # The checks run the eager model on a few rows (4, 96): one intra-op thread. With two, a
    # busy machine stalls each tiny matmul on a preempted thread (the 96-row check took
    # 13-24 ms instead of 0.7 at load 3 on 2 cores).
    with cpu_thread_limit(1):
        _export_each(model, inputs, directory, formats, encoder, label, raw_inputs, done,
                     errors)
    return done, errors


def _export_each(model: nn.Module, inputs: tuple[torch.Tensor, ...], directory: str,
                 formats: tuple[str, ...], encoder: Any, label: Any, raw_inputs: list | None,
                 done: dict[str, str], errors: dict[str, str]) -> None:
    cpu_model = model.to("cpu").eval()
    wanted = list(dict.fromkeys(["onnx" if f == "onnx_int8" else f for f in formats]))
    traced: dict[str, Any] = {}
    if "program" in wanted:
        _attempt("program", lambda: export_program(cpu_model, inputs, directory, traced), done,
                 errors)
    if "onnx" in wanted:
        _attempt("onnx_tensors", lambda: export_onnx(cpu_model, inputs, directory,
                                                     traced.get("program")), done, errors)
        if encoder is not None and label is not None and raw_inputs is not None:
            from gristmill.engine.onnx_raw import export_raw_onnx

            tensor = os.path.join(directory, done["onnx_tensors"]) \
                if "onnx_tensors" in done else None
            _attempt("onnx", lambda: export_raw_onnx(cpu_model, encoder, label, raw_inputs,
                                                     directory, tensor, inputs), done, errors)
    if "onnx_int8" in formats:
        if "onnx" in done:
            from gristmill.engine.onnx_edge import quantize_int8

            _attempt("onnx_int8", lambda: quantize_int8(directory), done, errors)
        else:
            errors["onnx_int8"] = "needs the raw-record model.onnx, which was not written"


def _attempt(fmt: str, exporter: Any, done: dict[str, str], errors: dict[str, str]) -> None:
    try:
        done[fmt] = os.path.basename(exporter())
    except Exception as e:  # an export the graph does not allow must not fail training
        errors[fmt] = f"{type(e).__name__}: {str(e)[:500]}"
        log.warning("%s export skipped: %s", fmt, errors[fmt])
