"""Write one pipeline run's journal into MLflow (see :mod:`gristmill.orchestrator.mlflow_replay`).

One parent run per pipeline run, one nested run per node. What a run reports is buffered
(:class:`~gristmill.orchestrator.mlflow.batch.RunBuffer`) and written at the pipeline's end
in one ``log_batch`` per run (more only past MLflow's per-call limits): parameters, every
metric point, tags and the lineage note; then the run is terminated. Per node that is
``create_run`` (component type among its tags), ``log_batch``, ``log_inputs`` (datasets) and
``set_terminated``: each one MLflow transaction through the client writer, all one
transaction through the direct SQLite writer (see :func:`~gristmill.orchestrator.mlflow_replay
.replay_events`). The Tuner's trials become nested runs of its run
(:mod:`~gristmill.orchestrator.mlflow.trials`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gristmill.metadata.db_url import sqlite_file
from gristmill.orchestrator.dag_view import fit_note
from gristmill.orchestrator.mlflow import conventions
from gristmill.orchestrator.mlflow.batch import RunBuffer, now_ms, numeric
from gristmill.orchestrator.mlflow.trials import TUNER_TYPE, TrialRecorder, split_trial_metrics

_LIMIT = conventions.PARAM_VALUE_LIMIT


def early_runs(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs opened during the pipeline run (the last ``early_runs`` event has all)."""
    found = [e for e in events if e.get("op") == "early_runs"]
    return {k: found[-1][k] for k in ("experiment", "parent", "nodes")} if found else {}


class Replayer:
    """Replays one journal (its events, the first being ``start_pipeline``)."""

    def __init__(self, events: list[dict[str, Any]], retry: bool = True, writer=None):
        """Args:
            retry: Whether an earlier replay of this journal may have left runs (searched
                for and deleted first); False only on a journal's first attempt.
            writer: Where the writes go: a
                :class:`~gristmill.orchestrator.mlflow.sqlite_writer.SqliteWriter` or, by
                default, MLflow's client
                (:class:`~gristmill.orchestrator.mlflow.client_writer.ClientWriter`).
        """
        self.events = events
        self.retry = retry
        self.start = events[0]
        self.node_runs: dict[str, str] = {}
        self.types: dict[str, str] = {}
        self.buffers: dict[str, RunBuffer] = {}
        self.ended: dict[str, tuple[str, int]] = {}  # run id -> (status, end ms), to write
        self.trials: dict[str, TrialRecorder] = {}
        self.models: dict[str, str] = {}  # node -> the MLflow LoggedModel id of its model
        self.producers = {ref["id"]: e["node"] for e in events if e.get("op") == "end_node"
                          for refs in (e.get("outputs") or {}).values() for ref in refs}
        if writer is None:
            from gristmill.orchestrator.mlflow.client_writer import ClientWriter

            writer = ClientWriter(self.start["tracking_uri"])
        self.writer = writer

    def replay(self) -> None:
        self._open_parent(early_runs(self.events))
        self._buffer(self.parent_id).tags.update(conventions.run_tags(self.start))  # if adopted
        self._buffer(self.parent_id).add_params({k: str(v)[:_LIMIT]
                                                 for k, v in self.start["params"].items()})
        for event in self.events[1:]:
            getattr(self, f"_on_{event['op']}")(event)
        self._finish_runs()  # a journal without end_pipeline (its last line torn)

    def _finish_runs(self) -> None:
        """Write every buffered run, then terminate the nodes that ended (in journal order)."""
        for buffer in self.buffers.values():
            buffer.flush(self.writer)
        for run_id, (status, end_ms) in self.ended.items():
            self.writer.set_terminated(run_id, status, end_time=end_ms)
        self.ended.clear()

    def _buffer(self, run_id: str) -> RunBuffer:
        return self.buffers.setdefault(run_id, RunBuffer(run_id))

    def _open_parent(self, early: dict[str, Any]) -> None:
        """Create the parent run, or adopt the one opened during the run (``early_runs``)."""
        experiment_id = early.get("experiment") or self._experiment(self.start["pipeline"])
        if self.retry:  # a first attempt has nothing to discard: no search (one query less)
            self._discard_partial_replay(experiment_id, keep={early.get("parent"),
                                                              *early.get("nodes", {}).values()})
        self.experiment_id = experiment_id
        if early.get("parent"):
            self.parent_id = early["parent"]
            self.node_runs.update(early.get("nodes", {}))
            return
        self.parent_id = self.create_run(self.start["run_id"], self.start["start"], tags={
            "gristmill.pipeline": self.start["pipeline"], "gristmill.root": self.start["root"]})

    def create_run(self, name: str, start: float, parent: str | None = None,
                   tags: dict[str, str] | None = None) -> str:
        """A run of this pipeline run (source and user tags set); returns its id."""
        tags = {**conventions.run_tags(self.start), "gristmill.run_id": self.start["run_id"],
                **({"mlflow.parentRunId": parent} if parent else {}), **(tags or {})}
        return self.writer.create_run(self.experiment_id, name, now_ms(start), tags)

    def _on_early_runs(self, event):
        pass  # adopted by _open_parent

    def _discard_partial_replay(self, experiment_id: str, keep: set | None = None) -> None:
        """Delete the runs an earlier, failed replay of this journal left, so a retry never
        shows the pipeline run twice (MLflow deletes softly: ``mlflow gc`` purges). Runs
        opened during the pipeline run (``keep``) stay."""
        self.writer.discard_runs(experiment_id, self.start["run_id"], keep or set())

    def _experiment(self, name: str) -> str:
        # MLflow 3.17's UI ignores this tag (see orchestrator/mlflow/ui_app.py); other MLflow
        # versions and clients read it.
        return self.writer.experiment(name, _artifact_root(self.start["tracking_uri"], name),
                                      {"mlflow.experimentKind": "custom_model_development"})

    def _node_run(self, event: dict[str, Any], tags: dict[str, str] | None = None) -> str:
        node = event["node"]
        if node not in self.node_runs:
            self.node_runs[node] = self.create_run(node, event["time"], parent=self.parent_id,
                                                   tags={"gristmill.node": node, **(tags or {})})
        return self.node_runs[node]

    def _on_start_node(self, event):
        self.types[event["node"]] = event["type"]
        kind = {"gristmill.component_type": event["type"]}
        if event["node"] in self.node_runs:  # opened early: the tags go with its log_batch
            self._buffer(self.node_runs[event["node"]]).tags.update(
                {**conventions.run_tags(self.start), **kind})
        else:
            self._node_run(event, tags=kind)

    def _on_params(self, event):
        self._buffer(self._node_run(event)).add_params(
            {k: str(v)[:_LIMIT] for k, v in event["params"].items()})

    def _on_metrics(self, event):
        metrics = numeric(event["metrics"])
        if self.types.get(event["node"]) == TUNER_TYPE:
            metrics, trials = split_trial_metrics(metrics)
            self.trials.setdefault(event["node"], TrialRecorder()).add(
                trials, event["step"], event["time"])
        self._buffer(self._node_run(event)).add_metrics(metrics, event["step"],
                                                        now_ms(event["time"]))

    def _on_artifact(self, event):
        run_id = self._node_run(event)
        if os.path.isdir(event["path"]):
            self.writer.log_artifacts(run_id, event["path"], event["artifact_path"])
        else:
            target = Path(event["path"]).parent / "named" / event["name"]
            target.parent.mkdir(exist_ok=True)
            if os.path.exists(event["path"]):  # a retried replay finds it moved already
                os.replace(event["path"], target)
            self.writer.log_artifact(run_id, str(target), event["artifact_path"])

    def _on_model(self, event):
        """The model's files on the node's run (registered versions point there) and as an
        MLflow LoggedModel whose source run is the node's."""
        run_id = self._node_run(event)
        self.writer.log_artifacts(run_id, event["path"], event["name"])
        self.models[event["node"]] = self.writer.log_model(
            self.experiment_id, run_id, event["node"], event["path"],
            {"gristmill.node": event["node"], "gristmill.run_id": self.start["run_id"]})

    def _on_end_node(self, event):
        run_id = self._node_run(event)
        buffer = self._buffer(run_id)
        buffer.add_params(conventions.flatten_params(event.get("parameters") or {}))
        metrics = {"duration_seconds": event["seconds"], **numeric(event.get("metrics"))}
        if self.types.get(event["node"]) == TUNER_TYPE:
            metrics = split_trial_metrics(metrics)[0]
        for ref in (event.get("outputs") or {}).get("evaluation") or []:
            metrics.update(conventions.slice_metrics(ref["uri"]))
        buffer.add_metrics(metrics, None, now_ms(event["time"]), self._model_of(event))
        buffer.tags.update(self._end_tags(event))  # written at the end, with the lineage note
        self._log_datasets(run_id, event)
        recorder = self.trials.pop(event["node"], None)
        if self.types.get(event["node"]) == TUNER_TYPE and event["state"] != "CACHED":
            (recorder or TrialRecorder()).write(self, run_id, event)  # a cache hit ran none
        self._buffer(self.parent_id).add_metrics(
            {f"{event['node']}.{k}": v for k, v in numeric(event.get("metrics")).items()},
            None, now_ms(event["time"]))
        status = {"COMPLETE": "FINISHED", "CACHED": "FINISHED", "FAILED": "FAILED"}.get(
            event["state"], "KILLED")
        self.ended[run_id] = (status, now_ms(event["time"]))

    def _model_of(self, event: dict[str, Any]) -> str | None:
        """The LoggedModel the node's metrics describe: its own, or the model it evaluated."""
        if event["node"] in self.models:
            return self.models[event["node"]]
        for ref in (event.get("inputs") or {}).get("model") or []:
            if self.producers.get(ref["id"]) in self.models:
                return self.models[self.producers[ref["id"]]]
        return None

    @staticmethod
    def _end_tags(event: dict[str, Any]) -> dict[str, str]:
        tags = {"gristmill.state": event["state"],
                "gristmill.cached": str(event["state"] == "CACHED").lower(),
                "gristmill.execution_id": str(event["execution_id"]),
                "gristmill.inputs": json.dumps(event.get("inputs"))[:_LIMIT],
                "gristmill.outputs": json.dumps(event.get("outputs"))[:_LIMIT]}
        if event.get("error"):
            tags["gristmill.error"] = event["error"][:_LIMIT]
        return tags

    def _log_datasets(self, run_id: str, event: dict[str, Any]) -> None:
        """The node's Examples inputs and outputs as MLflow dataset inputs of its run; the
        data a node ingested (outputs, no dataset input) also on the parent run, so the
        runs table's Datasets column shows what each pipeline run read."""
        inputs, ingested = [], []
        refs = conventions.dataset_refs(event)
        for context, ref in refs:
            fields = conventions.dataset_fields(ref, self.producers)
            if fields is None:
                continue
            tag = ("gristmill.artifact_id", str(ref["id"]))
            inputs.append((fields, [("mlflow.data.context", context), tag]))
            if all(c == "output" for c, _ in refs):
                ingested.append((fields, [("mlflow.data.context", "ingested"), tag]))
        if inputs:
            self.writer.log_datasets(run_id, inputs)
        if ingested:
            self.writer.log_datasets(self.parent_id, ingested)

    def _on_end_pipeline(self, event):
        states = [e.get("state") for e in self.events if e["op"] == "end_node"]
        parent = self._buffer(self.parent_id)
        parent.add_metrics({"pipeline_seconds": event["seconds"],
                            "components_cached": states.count("CACHED"),
                            "components_executed": states.count("COMPLETE"),
                            "components_failed": states.count("FAILED")}, None,
                           now_ms(event["time"]))
        parent.tags["gristmill.status"] = event["status"]
        self._log_lineage()
        self._log_dag(event["status"], self._link_model_versions())
        self._finish_runs()
        self.writer.set_terminated(self.parent_id,
                                   "FINISHED" if event["status"] == "COMPLETE" else "FAILED",
                                   end_time=now_ms(event["time"]))

    def _links(self) -> dict[str, str]:
        """Node id -> the UI route of its nested run."""
        return {node: f"#/experiments/{self.experiment_id}/runs/{run_id}"
                for node, run_id in self.node_runs.items()}

    def _log_lineage(self) -> None:
        """Each component run: ``lineage.html`` and a description listing its inputs (with
        their makers) and outputs (with their readers), linked to those runs."""
        from gristmill.orchestrator import lineage_view

        links = self._links()
        for node, flow in lineage_view.artifact_flow(self.events).items():
            run_id = self._node_run({"node": node, "time": self.start["start"]})
            self.writer.log_text(run_id, lineage_view.render_node_html(node, flow, links),
                                 "lineage.html")
            self._buffer(run_id).tags["mlflow.note.content"] = fit_note(
                lineage_view.render_node_markdown(node, flow, links))

    def _link_model_versions(self) -> list[str]:
        """Link each model version a Pusher registered to the run that trained it; tag the
        parent with them. Returns the parent description's lines."""
        from gristmill.orchestrator.lineage_view import link_model_versions

        lines = link_model_versions(self.writer, self.events, self.node_runs, self._links(),
                                    f"Pipeline {self.start['pipeline']} run "
                                    f"{self.start['run_id']}")
        if lines:
            self._buffer(self.parent_id).tags["gristmill.model_versions"] = \
                ", ".join(name for name, _ in lines)[:_LIMIT]
        return [line for _, line in lines]

    def _log_dag(self, status: str, model_lines: list[str]) -> None:
        """The parent run's ``dag.html`` artifact and Markdown description."""
        from gristmill.orchestrator import dag_view

        links = self._links()
        layout = dag_view.layout_dag(*dag_view.build_dag(
            dag_view.components_from_journal(self.events, links)))
        title = f"{self.start['pipeline']} run {self.start['run_id']} ({status})"
        self.writer.log_text(self.parent_id, dag_view.render_html(layout, title, "/"),
                             "dag.html")
        note = dag_view.render_markdown(layout, title)
        if model_lines:
            note = "\n".join([note, "", "**Registered model versions**", "", *model_lines])
        self._buffer(self.parent_id).tags["mlflow.note.content"] = fit_note(note)


def _artifact_root(tracking_uri: str, experiment: str) -> str | None:
    """Keep artifacts beside a SQLite tracking database (MLflow would use ./mlruns)."""
    db = sqlite_file(tracking_uri)
    return None if db is None else str(db.parent / "mlartifacts" / experiment)
