"""The executor contract: read resolved inputs, write outputs under given URIs.

Executors never touch the metadata store. What they want recorded beyond files (metrics,
reports for the MLflow UI, a request to halt downstream nodes) goes through the
:class:`ExecutionContext`, whose ``reporter`` the orchestrator supplies (a no-op by default).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gristmill.metadata.types import Artifact

log = logging.getLogger(__name__)


class Reporter:
    """Receives what an executor wants shown in the UI. Every method is a no-op here.

    The orchestrator's MLflow mirror subclasses this; a failing reporter only warns.
    """

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record parameters on the component's run."""

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record metrics (a training curve when ``step`` is given)."""

    def log_artifact(self, path: str, artifact_path: str | None = None) -> None:
        """Attach a file (an HTML report, a plot) to the component's run."""

    def log_model(self, model_dir: str, name: str = "model") -> None:
        """Attach an MLflow pyfunc model directory saved by the executor."""


@dataclass
class ExecutionContext:
    """Everything an executor may know about the run it is part of.

    Attributes:
        component_id: The node id.
        pipeline_name: The pipeline's name.
        run_id: The pipeline run id.
        execution_id: The store's execution id.
        pipeline_root: Root directory of the pipeline's artifacts.
        tmp_dir: Scratch directory, deleted after the execution.
        beam_pipeline_args: Pipeline args followed by the node's own.
        tracking_uri: MLflow tracking URI (for executors that register models).
        mlflow_run_id: The component's nested MLflow run, when the mirror is on.
        experiment_name: The MLflow experiment of the pipeline.
        reporter: Where metrics and reports go.
    """

    component_id: str
    pipeline_name: str = ""
    run_id: str = ""
    execution_id: int | None = None
    pipeline_root: str = ""
    tmp_dir: str = ""
    beam_pipeline_args: list[str] = field(default_factory=list)
    tracking_uri: str | None = None
    mlflow_run_id: str | None = None
    experiment_name: str | None = None
    reporter: Reporter = field(default_factory=Reporter)
    halt_reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record metrics; final (step-less) ones are also rolled up to the pipeline run."""
        if step is None:
            self.metrics.update({k: float(v) for k, v in metrics.items()})
        self._safely(self.reporter.log_metrics, dict(metrics), step)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record parameters on the component's MLflow run."""
        self._safely(self.reporter.log_params, dict(params))

    def attach_report(self, path: str, artifact_path: str | None = None) -> None:
        """Show a file (HTML report, plot) on the component's MLflow run."""
        self._safely(self.reporter.log_artifact, os.fspath(path), artifact_path)

    def log_model(self, model_dir: str, name: str = "model") -> None:
        """Log an MLflow pyfunc model directory on the component's run."""
        self._safely(self.reporter.log_model, os.fspath(model_dir), name)

    def halt_downstream(self, reason: str) -> None:
        """Succeed, but cancel every node that depends on this one (e.g. ERROR anomalies)."""
        self.halt_reason = reason

    @staticmethod
    def _safely(fn, *args) -> None:
        try:
            fn(*args)
        except Exception as e:  # a failing mirror must never fail a pipeline
            log.warning("reporting to the UI failed and was skipped: %s", e)


class BaseExecutor:
    """Runs one component. Subclasses implement :meth:`Do`.

    Args:
        context: The :class:`ExecutionContext` of this execution.
    """

    def __init__(self, context: ExecutionContext):
        from gristmill.components.framework import row_progress

        self.context = context
        row_progress.begin(context.component_id)  # the live line's row counts (this thread)

    def Do(self, input_dict: dict[str, list[Artifact]], output_dict: dict[str, list[Artifact]],
           exec_properties: Any) -> None:
        """Read ``input_dict``, write files under each output artifact's ``uri``.

        Args:
            input_dict: Input key -> resolved LIVE artifacts.
            output_dict: Output key -> artifacts whose ``uri`` directories exist and are
                empty; set properties and custom properties on them in place.
            exec_properties: The component's frozen ``PARAMETERS`` instance.
        """
        raise NotImplementedError
