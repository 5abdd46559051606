"""The Tuner's trials as nested MLflow runs of the Tuner's run.

During tuning the Tuner reports each trial's epochs as ``trial_<n>/<metric>`` with the epoch
as step, and writes every trial (its hyperparameters, state and objective value) to
``trials.json`` in its ``tuner_results`` output. The replay turns them into one nested run
per trial (``trial-<n>``: hyperparameters as flat params, curves as stepped metrics), so
MLflow's compare and parallel-coordinates views work; the best trial is tagged
``gristmill.best_trial=true``. Curves without a record (or the other way round) are still
shown; a missing ``trials.json`` is named in a warning.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TUNER_TYPE = "Tuner"
RESULTS_KEY = "tuner_results"
TRIALS_FILE = "trials.json"
_TRIAL_METRIC = re.compile(r"^trial_(\d+)/(.+)$")


def split_trial_metrics(metrics: dict[str, float]) -> tuple[dict[str, float],
                                                            dict[int, dict[str, float]]]:
    """``(the Tuner's own metrics, {trial number: that trial's metrics})``."""
    own: dict[str, float] = {}
    trials: dict[int, dict[str, float]] = {}
    for key, value in metrics.items():
        match = _TRIAL_METRIC.match(key)
        if match:
            trials.setdefault(int(match.group(1)), {})[match.group(2)] = value
        else:
            own[key] = value
    return own, trials


def read_trials(end_event: dict[str, Any]) -> tuple[list[dict[str, Any]], int | None]:
    """``(trial records, best trial number)`` from the Tuner's ``trials.json``."""
    refs = (end_event.get("outputs") or {}).get(RESULTS_KEY) or []
    path = Path(refs[0]["uri"]) / TRIALS_FILE if refs else None
    if path is None or not path.is_file():
        if end_event.get("state") in ("COMPLETE", "CACHED"):
            log.warning("MLflow mirror: %s has no %s (%s); its trial runs have curves but no "
                        "hyperparameters", end_event["node"], TRIALS_FILE, path)
        return [], None
    data = json.loads(path.read_text())
    return list(data.get("trials") or []), data.get("best_trial")


class TrialRecorder:
    """Collects one Tuner's trial curves during the replay; writes the nested runs at its end."""

    def __init__(self):
        self.points: dict[int, list[tuple[dict[str, float], int | None, float]]] = {}

    def add(self, trials: dict[int, dict[str, float]], step: int | None, when: float) -> None:
        for number, metrics in trials.items():
            self.points.setdefault(number, []).append((metrics, step, when))

    def write(self, replayer, tuner_run: str, end_event: dict[str, Any]) -> int:
        """Create the trial runs under ``tuner_run``; returns how many."""
        from gristmill.orchestrator.mlflow.batch import RunBuffer, now_ms
        from gristmill.orchestrator.mlflow.conventions import flatten_params

        records, best = read_trials(end_event)
        by_number = {int(r["number"]): r for r in records if "number" in r}
        numbers = sorted(set(by_number) | set(self.points))
        for number in numbers:
            record, points = by_number.get(number, {}), self.points.get(number, [])
            times = [when for _, _, when in points] or [end_event["time"]]
            run_id = replayer.create_run(
                f"trial-{number}", min(times), parent=tuner_run,
                tags={"gristmill.trial": str(number), "gristmill.tuner_node": end_event["node"],
                      "gristmill.best_trial": str(number == best).lower(),
                      "gristmill.trial_state": str(record.get("state", "UNKNOWN"))})
            buffer = RunBuffer(run_id)
            buffer.add_params(flatten_params(record.get("params") or {}))
            for metrics, step, when in points:
                buffer.add_metrics(metrics, step, now_ms(when))
            if isinstance(record.get("value"), (int, float)):
                buffer.add_metrics({"objective": record["value"]}, None, now_ms(max(times)))
            buffer.flush(replayer.writer)
            failed = record.get("state") not in (None, "COMPLETE")
            replayer.writer.set_terminated(run_id, "FAILED" if failed else "FINISHED",
                                           end_time=now_ms(max(times)))
        return len(numbers)
