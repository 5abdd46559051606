"""The tensor-graph check (``model_tensors.onnx`` against the eager model): a faithful graph
passes even where the example inputs give logits in the thousands; one that disagrees is
still refused, recorded in ``export_errors`` and not published."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gristmill.engine import export, onnx_model
from gristmill.engine.models import TabularMLP

pytestmark = pytest.mark.integration


def year_model() -> TabularMLP:
    """A built-in model whose numeric column is a year (mean 2008, std 0.8), as on the raw
    penguins: the random example inputs standardize to about -2,500."""
    torch.manual_seed(0)
    model = TabularMLP(2, [3], 3, hidden_units=[32, 16])
    model.features.set_normalization(torch.tensor([2008.0, 4200.0]), torch.tensor([0.8, 800.0]))
    return model.eval()


def test_large_logits_within_float32_precision_pass(tmp_path):
    model = year_model()
    inputs = export.example_inputs(2, [3])
    with torch.no_grad():
        assert float(model(*inputs).abs().max()) > 100  # far from the training range
    done, errors = export.export_all(model, inputs, str(tmp_path), ("onnx",))
    assert errors == {}
    assert done == {"onnx_tensors": export.ONNX_FILE}


@pytest.mark.parametrize(("expected", "got"), [
    ([[1676.3585, -3.0]], [[1676.3586, -3.00005]]),   # one float32 step at 1,676; 5e-5 near 1
    ([[np.inf, np.nan]], [[np.inf, np.nan]]),          # the same non-finite values
])
def test_check_close_accepts(expected, got):
    export._check_close(np.asarray(expected, np.float32), np.asarray(got, np.float32), "ONNX")


@pytest.mark.parametrize(("expected", "got", "match"), [
    ([[0.5, 1.0]], [[0.5002, 1.0]], r"max difference 0.0002 .* > 0.0001"),
    ([[1000.0]], [[1000.2]], r"max difference 0.0002 "),
    ([[1.0]], [[np.nan]], r"max difference nan"),
    ([[1.0, 2.0]], [[1.0, 2.0, 3.0]], r"shape \(1, 3\) vs \(1, 2\)"),
])
def test_check_close_refuses(expected, got, match):
    with pytest.raises(RuntimeError, match=r"ONNX model disagrees with the eager model: " + match):
        export._check_close(np.asarray(expected, np.float32), np.asarray(got, np.float32),
                            "ONNX model")


def test_a_tensor_graph_that_disagrees_is_refused(tmp_path, monkeypatch):
    """The graph is written from other weights than the model's: refused, no file kept in
    ``done``, the error says why."""
    model = year_model()
    original = onnx_model.write_builtin_tensor_graph

    def off_by_a_bit(m, path):
        other = year_model()
        with torch.no_grad():
            other.head.bias.add_(1e-2)
        return original(other, path)

    monkeypatch.setattr(onnx_model, "write_builtin_tensor_graph", off_by_a_bit)
    done, errors = export.export_all(model, export.example_inputs(2, [3]), str(tmp_path),
                                     ("onnx",))
    assert "onnx_tensors" not in done
    assert errors["onnx_tensors"].startswith("RuntimeError: ONNX model disagrees with the "
                                             "eager model: max difference")


def test_checks_run_on_one_thread_and_the_setting_comes_back(tmp_path, monkeypatch):
    """A few rows per check: one intra-op thread (two stall on a busy machine); the
    process's thread count is restored afterwards."""
    seen = []
    original = export._check_close

    def recording(expected, got, what):
        seen.append(torch.get_num_threads())
        return original(expected, got, what)

    monkeypatch.setattr(export, "_check_close", recording)
    before = torch.get_num_threads()
    done, _ = export.export_all(year_model(), export.example_inputs(2, [3]), str(tmp_path),
                                ("onnx",))
    assert "onnx_tensors" in done and seen == [1]
    assert torch.get_num_threads() == before
