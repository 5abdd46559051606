"""The replay's reference writer: MLflow's own ``MlflowClient``.

Every write the replay makes goes through a writer with these methods (plain values in, no
MLflow entities). This one hands them to ``MlflowClient``; it serves any tracking URI
(SQLite, PostgreSQL, a remote server) and is what the direct SQLite writer
(:mod:`~gristmill.orchestrator.mlflow.sqlite_writer`) is tested against.
"""

from __future__ import annotations

from typing import Any

#: ``(key, value, timestamp ms, step, logged model id or None)``
MetricPoint = tuple[str, float, int, int, "str | None"]


class ClientWriter:
    """Writes through ``MlflowClient`` (importing MLflow: about 2 CPU-seconds)."""

    def __init__(self, tracking_uri: str):
        from mlflow import MlflowClient

        from gristmill.components.framework.tracking_store import ensure_tracking_store

        ensure_tracking_store(tracking_uri)
        self.client = MlflowClient(tracking_uri=tracking_uri)

    def experiment(self, name: str, artifact_location: str | None,
                   tags: dict[str, str]) -> str:
        """The id of the experiment called ``name``, created when missing."""
        existing = self.client.get_experiment_by_name(name)
        if existing is not None:
            return existing.experiment_id
        return self.client.create_experiment(name, artifact_location=artifact_location,
                                             tags=tags)

    def create_run(self, experiment_id: str, name: str, start_ms: int,
                   tags: dict[str, str]) -> str:
        """A new run; returns its id."""
        run = self.client.create_run(experiment_id, run_name=name, start_time=start_ms,
                                     tags=tags)
        return run.info.run_id

    def log_batch(self, run_id: str, metrics: list[MetricPoint], params: dict[str, str],
                  tags: dict[str, str]) -> None:
        """One ``log_batch`` (within MLflow's per-call limits)."""
        from mlflow.entities import Metric, Param, RunTag

        self.client.log_batch(
            run_id, metrics=[Metric(k, v, ts, step, model_id=model)
                             for k, v, ts, step, model in metrics],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()])

    def set_terminated(self, run_id: str, status: str, end_time: int) -> None:
        self.client.set_terminated(run_id, status, end_time=end_time)

    def log_artifact(self, run_id: str, local_file: str, artifact_path: str | None) -> None:
        self.client.log_artifact(run_id, local_file, artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None) -> None:
        self.client.log_artifacts(run_id, local_dir, artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.client.log_text(run_id, text, artifact_file)

    def log_model(self, experiment_id: str, run_id: str, name: str, local_dir: str,
                  tags: dict[str, str]) -> str:
        """A READY LoggedModel of type ``gristmill`` with ``local_dir``'s files, output of
        ``run_id`` at step 0; returns its id."""
        from mlflow.entities import LoggedModelOutput

        model = self.client.create_logged_model(experiment_id, name=name, source_run_id=run_id,
                                                model_type="gristmill", tags=tags)
        self.client.log_model_artifacts(model.model_id, local_dir)
        self.client.finalize_logged_model(model.model_id, "READY")
        self.client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
        return model.model_id

    def log_datasets(self, run_id: str,
                     datasets: list[tuple[dict[str, Any], list[tuple[str, str]]]]) -> None:
        """Dataset inputs of a run: ``(Dataset fields, [(input tag, value)])`` each."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        self.client.log_inputs(run_id, datasets=[
            DatasetInput(Dataset(**fields), tags=[InputTag(k, v) for k, v in tags])
            for fields, tags in datasets])

    def update_model_version(self, name: str, version: str, description: str) -> None:
        self.client.update_model_version(name, version, description=description)

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.client.set_model_version_tag(name, version, key, value)

    def discard_runs(self, experiment_id: str, gristmill_run_id: str, keep: set) -> None:
        """Delete (softly) the runs tagged with ``gristmill_run_id`` except ``keep``."""
        found = self.client.search_runs(
            [experiment_id], filter_string=f"tags.`gristmill.run_id` = '{gristmill_run_id}'",
            max_results=50_000)
        for run in found:
            if run.info.run_id not in keep:
                self.client.delete_run(run.info.run_id)

    def commit(self) -> None:
        """Nothing to do: every client call is its own transaction."""

    def abandon(self) -> None:
        """Nothing to undo (see :meth:`commit`)."""
