"""Buffer one MLflow run's params, metrics and tags; write them in as few ``log_batch``
calls as MLflow's limits allow (1,000 entities, 100 params and 100 tags a call).

Replaying a journal event by event cost one database transaction per event (a Tuner's 200
epochs were 200 commits, most of the replay's CPU); a node's run is now written once.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from gristmill.metadata.mlflow_rules import name_problem

log = logging.getLogger(__name__)

MAX_ENTITIES = 1000
MAX_PARAMS_OR_TAGS = 100


class RunBuffer:
    """What one run is waiting to have written."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.params: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.metrics: dict[tuple[str, int], tuple[float, int, str | None]] = {}

    def add_params(self, params: dict[str, str]) -> None:
        """Buffer params; a second, different value for a key is refused by MLflow, so it
        is skipped with a warning naming both values (the first one stays)."""
        for key, value in params.items():
            if not valid_name(key, "param"):
                continue
            known = self.params.get(key)
            if known is not None and known != value:
                log.warning("MLflow mirror: param %s of run %s logged twice (%r, then %r); "
                            "MLflow keeps one value: kept the first", key, self.run_id,
                            known[:80], value[:80])
                continue
            self.params[key] = value

    def add_metrics(self, metrics: dict[str, float], step: int | None, timestamp_ms: int,
                    model_id: str | None = None) -> None:
        """Buffer metric points; the same (key, step) logged again keeps its last value."""
        for key, value in metrics.items():
            if valid_name(key, "metric"):
                self.metrics[(key, step or 0)] = (float(value), timestamp_ms, model_id)

    def flush(self, writer) -> None:
        """Write everything buffered with ``writer.log_batch`` (a
        :mod:`~gristmill.orchestrator.mlflow.client_writer` or direct SQLite writer), in
        calls within MLflow's limits; the buffer is emptied."""
        params = list(self.params.items())
        tags = list(self.tags.items())
        metrics = [(k, v, ts, step, model) for (k, step), (v, ts, model) in self.metrics.items()]
        self.params, self.tags, self.metrics = {}, {}, {}
        while params or tags or metrics:
            p, params = params[:MAX_PARAMS_OR_TAGS], params[MAX_PARAMS_OR_TAGS:]
            t, tags = tags[:MAX_PARAMS_OR_TAGS], tags[MAX_PARAMS_OR_TAGS:]
            room = MAX_ENTITIES - len(p) - len(t)
            m, metrics = metrics[:room], metrics[room:]
            writer.log_batch(self.run_id, m, dict(p), dict(t))


def valid_name(name: str, kind: str) -> bool:
    """True when MLflow accepts ``name`` as a metric/param name; otherwise warn, naming it.

    MLflow refuses names such as ``acc@5`` or ``f1 (macro)``; one such name must not keep
    the whole run (and every later journal) out of MLflow.
    """
    problem = name_problem(name)
    if problem is None:
        return True
    log.warning("MLflow mirror: %s %r skipped: MLflow refuses the name (%s)", kind, name,
                problem)
    return False


def now_ms(seconds: float | None = None) -> int:
    """Milliseconds since the epoch (MLflow's timestamps) of ``seconds`` or now."""
    return int((time.time() if seconds is None else seconds) * 1000)


def numeric(metrics: dict[str, Any] | None) -> dict[str, float]:
    """The entries of ``metrics`` that are numbers (MLflow metrics are floats)."""
    return {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, (int, float))}
