"""A custom model is traced once for ``program`` and ``onnx`` (issue 20 goal 3), and the
ONNX file is still checked against the eager model whichever way it was written."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from gristmill.engine import export

pytestmark = pytest.mark.slow


class SumOfParts(nn.Module):
    """A user model (not a built-in): its ONNX goes through the dynamo exporter."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.linear = nn.Linear(3, 2)
        self.table = nn.Embedding(5, 2)

    def forward(self, numeric, categorical):
        return self.linear(torch.nan_to_num(numeric)) + self.table(categorical[:, 0].clamp(0, 4))


def _export(tmp_path, model=None):
    model = model or SumOfParts().eval()
    inputs = export.example_inputs(3, [4])
    done, errors = export.export_all(model, inputs, str(tmp_path), ("program", "onnx"))
    return model, done, errors


def _onnx_matches_eager(tmp_path, model, batch: int = 7) -> None:
    numeric, categorical = export.example_inputs(3, [4], batch=batch)
    session = export.onnx_session(str(tmp_path / export.ONNX_FILE))
    got = session.run([export.OUTPUT_NAME], {"numeric": numeric.numpy(),
                                             "categorical": categorical.numpy()})[0]
    with torch.no_grad():
        want = model(numeric, categorical).numpy()
    np.testing.assert_allclose(got, want, atol=export.TOLERANCE)


def test_custom_model_is_traced_once(tmp_path, monkeypatch):
    calls = []
    original = torch.export.export

    def counting(*args, **kwargs):
        calls.append(type(args[0]).__name__)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.export, "export", counting)
    model, done, errors = _export(tmp_path)
    assert errors == {}
    assert set(done) == {"program", "onnx_tensors"}
    assert calls == ["SumOfParts"], calls  # the ONNX export reused the program's trace
    _onnx_matches_eager(tmp_path, model)  # another batch size: the batch dim stays dynamic


def test_onnx_from_a_wrong_program_is_caught_and_the_module_exported(tmp_path, monkeypatch):
    # The program handed to the ONNX exporter gives other outputs (another model's weights):
    # the check against the eager model refuses that file and the module is exported.
    original = export._dynamo_export
    seen = []

    def stale(model, inputs, path):
        seen.append(type(model).__name__)
        if isinstance(model, torch.export.ExportedProgram):
            other = torch.export.export(SumOfParts(seed=1).eval(), inputs,
                                        dynamic_shapes=export._dynamic_shapes())
            return original(other, inputs, path)
        return original(model, inputs, path)

    monkeypatch.setattr(export, "_dynamo_export", stale)
    model, done, errors = _export(tmp_path)
    assert seen == ["ExportedProgram", "SumOfParts"]
    assert errors == {} and "onnx_tensors" in done
    _onnx_matches_eager(tmp_path, model)


def test_program_that_fails_its_check_is_not_reused(tmp_path, monkeypatch):
    original = export._check_close
    seen = []

    def refuse_program(expected, got, what):
        if what == "torch.export program":
            raise RuntimeError("torch.export program disagrees with the eager model")
        original(expected, got, what)

    def spy(model, inputs, path, __f=export._dynamo_export):
        seen.append(type(model).__name__)
        return __f(model, inputs, path)

    monkeypatch.setattr(export, "_check_close", refuse_program)
    monkeypatch.setattr(export, "_dynamo_export", spy)
    model, done, errors = _export(tmp_path)
    assert "disagrees" in errors["program"] and "program" not in done
    assert seen == ["SumOfParts"] and "onnx_tensors" in done
    _onnx_matches_eager(tmp_path, model)
