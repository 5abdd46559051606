"""The Pusher's reading of manual blessings (the records ``gristmill bless`` writes; the
end-to-end path through the CLI and the store is tests/orchestrator/test_manual_blessing.py)."""

from __future__ import annotations

import json
import os

import pytest
from test_pusher import _blessing, _model, _params

from gristmill.components.framework.executor import ExecutionContext
from gristmill.components.pusher.executor import PusherExecutor
from gristmill.components.pusher.manual_override import (
    latest_manual_blessing,
    ledger_fingerprint,
    manual_blessings_root,
    model_key,
)
from gristmill.metadata.standard_artifacts import InfraBlessing, PushedModel

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GRISTMILL_HOME", str(tmp_path / "home"))


def _record(model, name: str, blessed: bool, reason: str) -> None:
    folder = os.path.join(manual_blessings_root(), model_key(model.uri), name)
    os.makedirs(folder)
    with open(os.path.join(folder, "blessing.json"), "w") as f:
        json.dump({"manual": True, "blessed": blessed, "model_id": model.id,
                   "model_uri": os.path.abspath(model.uri), "blessed_by": "alice",
                   "blessed_at": "2026-12-03T10:00:00Z", "reason": reason,
                   "execution_id": 5}, f)


class Recorder:
    def __init__(self):
        self.metrics, self.params = {}, {}

    def log_metrics(self, metrics, step=None):
        self.metrics.update(metrics)

    def log_params(self, params):
        self.params.update(params)

    def __getattr__(self, name):
        return lambda *a, **k: None


def _push(tmp_path, name, model, **blessings):
    out = PushedModel(str(tmp_path / name))
    os.makedirs(out.uri)
    reporter = Recorder()
    PusherExecutor(ExecutionContext(component_id="Pusher", reporter=reporter)).Do(
        {"model": [model], **{k: [v] for k, v in blessings.items()}}, {"pushed_model": [out]},
        _params(tmp_path / "serving"))
    return out, reporter


def test_newest_record_wins_and_staging_folders_are_ignored(tmp_path):
    model = _model(tmp_path, "m", 1)
    assert latest_manual_blessing(model.uri) is None and ledger_fingerprint() is None
    _record(model, "100", True, "ok by board")
    first = ledger_fingerprint()
    _record(model, "200", False, "bias found")
    _record(model, ".staging-x", True, "not yet published")
    assert latest_manual_blessing(model.uri)["reason"] == "bias found"
    assert ledger_fingerprint() not in (None, first)
    other = _model(tmp_path, "other", 2)
    assert latest_manual_blessing(other.uri) is None


def test_manual_blessing_overrides_the_evaluator_but_not_the_infra_validator(tmp_path):
    model = _model(tmp_path, "m", 1)
    _record(model, "100", True, "ok by board")
    out, reporter = _push(tmp_path, "out", model,
                          model_blessing=_blessing(tmp_path, "b", False, 1))
    assert out.get_custom_property("pushed") == 1
    assert "manually blessed by alice" in out.get_custom_property("manual_blessing")
    assert reporter.metrics["manual_blessed"] == 1.0
    assert "ok by board" in reporter.params["manual_blessing"]
    out, _ = _push(tmp_path, "out2", model, model_blessing=_blessing(tmp_path, "b2", True, 1),
                   infra_blessing=_blessing(tmp_path, "i", False, 1, cls=InfraBlessing))
    assert out.get_custom_property("pushed") == 0
    assert "infra_blessing says NOT blessed" in out.get_custom_property("reason")


def test_a_revoke_blocks_a_blessed_model(tmp_path):
    model = _model(tmp_path, "m", 1)
    _record(model, "100", False, "bias found")
    out, reporter = _push(tmp_path, "out", model,
                          model_blessing=_blessing(tmp_path, "b", True, 1))
    assert out.get_custom_property("pushed") == 0
    assert "manual blessing revoked by alice" in out.get_custom_property("reason")
    assert "bias found" in out.get_custom_property("reason")
    assert reporter.metrics["manual_blessed"] == 0.0
