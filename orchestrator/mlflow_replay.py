"""Replay a run journal into MLflow (see :mod:`gristmill.orchestrator.mlflow_mirror`).

Run as ``python -m gristmill.orchestrator.mlflow_replay JOURNAL.ready``. Replays are
serialised by a file lock so concurrent pipeline runs never fight over MLflow's database.
A replayed journal is renamed ``.done``; a failed one stays ``.ready`` with a ``.log``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from gristmill.metadata.confinement import is_within
from gristmill.metadata.db_url import HIDDEN, redact_text, redact_url, sqlite_file
from gristmill.orchestrator.dag_view import fit_note
from gristmill.orchestrator.run_summary import write_mlflow_location

log = logging.getLogger(__name__)
_PARAM_LIMIT = 6000  # MLflow 3's maximum param value length


TRACKING_URI_ENV = "GRISTMILL_REPLAY_TRACKING_URI"


class JournalSkipped(Exception):
    """A journal that cannot be replayed as it is; the message says why and what to do."""


def replay_pending(directory: Path, tracking_uri: str | None = None) -> int:
    """Replay every ``.ready`` journal in ``directory``; returns how many were replayed.

    One journal that fails (truncated, unreadable, recorded for a tracking URI whose
    password is not on disk, MLflow refusing it) is skipped with a warning naming it; the
    others are still replayed, so ``gristmill ui`` always starts.

    Args:
        tracking_uri: The full tracking URI to use for journals recorded for it (journals
            keep only its redacted form).
    """
    count = 0
    for path in sorted(directory.glob("*.ready")):
        try:
            replay_file(str(path), tracking_uri)
            count += 1
        except Exception as e:  # one bad journal must not block the others or the UI
            log.warning("MLflow mirror: journal %s was not replayed: %s", path,
                        redact_text(str(e)))
    return count


def prepare_ui(directory: Path, tracking_uri: str) -> int:
    """Before ``gristmill ui``: repair a half-made SQLite tracking store, then replay pending
    journals. Never raises (a failure is a warning naming it); returns how many replayed."""
    from gristmill.components.framework.tracking_store import ensure_tracking_store, sqlite_path

    if sqlite_path(tracking_uri) is not None:
        try:
            ensure_tracking_store(tracking_uri)
        except Exception as e:
            log.warning("MLflow tracking store %s cannot be opened: %s", redact_url(tracking_uri),
                        redact_text(str(e).splitlines()[0] if str(e) else type(e).__name__))
    return replay_pending(directory, tracking_uri) if directory.is_dir() else 0


def replay_file(path: str, tracking_uri: str | None = None) -> None:
    """Replay one journal into MLflow under an exclusive lock.

    Raises:
        JournalSkipped: The journal has no start event (it is renamed ``.bad``) or names a
            tracking URI with a hidden password that ``tracking_uri`` does not supply.
    """
    journal = Path(path)
    with open(journal.parent / ".replay.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not journal.exists():
            return  # another process replayed it while we waited
        events = read_events(journal)
        if not events or events[0].get("op") != "start_pipeline":
            journal.rename(journal.with_suffix(".bad"))
            raise JournalSkipped(f"it has no start_pipeline event (truncated or not a "
                                 f"journal); renamed to {journal.with_suffix('.bad').name}")
        events[0]["tracking_uri"] = _full_tracking_uri(events[0].get("tracking_uri") or "",
                                                       tracking_uri)
        replayer = _Replayer(events)
        replayer.replay()
        write_mlflow_location(journal.parent, events[0]["run_id"], replayer.experiment_id,
                              replayer.parent_id)
        journal.rename(journal.with_suffix(".done"))


def _early_runs(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs opened during the pipeline run (the last ``early_runs`` event has all)."""
    found = [e for e in events if e.get("op") == "early_runs"]
    return {k: found[-1][k] for k in ("experiment", "parent", "nodes")} if found else {}


def read_events(journal: Path) -> list[dict[str, Any]]:
    """The journal's events; undecodable lines (a torn last write) are skipped and named."""
    events, bad = [], []
    for number, line in enumerate(journal.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            bad.append(number)
            continue
        if isinstance(event, dict) and isinstance(event.get("op"), str) and \
                _files_confined(event, journal):
            events.append(event)
        else:
            bad.append(number)
    if bad:
        log.warning("MLflow mirror: journal %s: skipped %d unreadable line(s) (%s)", journal,
                    len(bad), ", ".join(map(str, bad[:10])))
    return events


def _files_confined(event: dict[str, Any], journal: Path) -> bool:
    """A file event may only name a copy kept beside its journal (``<stem>.files/``)."""
    if event["op"] not in ("artifact", "model"):
        return True
    return is_within(str(event.get("path", "")), journal.with_suffix(".files"))


def _full_tracking_uri(recorded: str, given: str | None) -> str:
    """The tracking URI to replay into. Journals hold the URI redacted; the full one comes
    from the caller (``gristmill ui``, the run that wrote the journal) when it matches."""
    for candidate in (given, os.environ.get(TRACKING_URI_ENV)):
        if candidate and redact_url(candidate) == recorded:
            return candidate
    if redact_url(recorded) == recorded and HIDDEN not in recorded:
        return recorded
    raise JournalSkipped(f"it was recorded for the tracking URI {recorded}, whose password is "
                         "not kept on disk; replay it with `gristmill ui --tracking-uri URL` "
                         "giving the full URL")


class _Replayer:
    def __init__(self, events: list[dict[str, Any]]):
        self.events = events
        self.node_runs: dict[str, str] = {}
        self.logged: set[tuple[str, str, int, float]] = set()  # (run, key, step, value)
        start = events[0]
        self.start = start
        from mlflow import MlflowClient

        from gristmill.components.framework.tracking_store import ensure_tracking_store

        ensure_tracking_store(start["tracking_uri"])
        self.client = MlflowClient(tracking_uri=start["tracking_uri"])

    def replay(self) -> None:
        early = _early_runs(self.events)
        self._open_parent(early)
        params = {k: str(v)[:_PARAM_LIMIT] for k, v in self.start["params"].items()}
        self._log_batch(self.parent_id, params=params)
        for event in self.events[1:]:
            getattr(self, f"_on_{event['op']}")(event)

    def _open_parent(self, early: dict[str, Any]) -> None:
        """Create the parent run, or adopt the one opened during the run (``early_runs``)."""
        experiment_id = early.get("experiment") or self._experiment(self.start["pipeline"])
        self._discard_partial_replay(experiment_id, keep={early.get("parent"),
                                                          *early.get("nodes", {}).values()})
        self.experiment_id = experiment_id
        if early.get("parent"):
            self.parent_id = early["parent"]
            self.node_runs.update(early.get("nodes", {}))
            return
        parent = self.client.create_run(
            experiment_id, run_name=self.start["run_id"], start_time=_ms(self.start["start"]),
            tags={"gristmill.run_id": self.start["run_id"],
                  "gristmill.pipeline": self.start["pipeline"],
                  "gristmill.root": self.start["root"]})
        self.parent_id = parent.info.run_id

    def _on_early_runs(self, event):
        pass  # adopted by _open_parent

    def _discard_partial_replay(self, experiment_id: str, keep: set | None = None) -> None:
        """Delete the runs an earlier, failed replay of this journal left, so a retry never
        shows the pipeline run twice (MLflow deletes softly: ``mlflow gc`` purges). Runs
        opened during the pipeline run (``keep``) stay."""
        found = self.client.search_runs(
            [experiment_id], filter_string=f"tags.`gristmill.run_id` = '{self.start['run_id']}'",
            max_results=50_000)
        for run in found:
            if run.info.run_id not in (keep or set()):
                self.client.delete_run(run.info.run_id)

    def _experiment(self, name: str) -> str:
        existing = self.client.get_experiment_by_name(name)
        if existing is not None:
            return existing.experiment_id
        # The kind tag makes the UI open it as model training, not GenAI.
        return self.client.create_experiment(name, artifact_location=_artifact_root(
            self.start["tracking_uri"], name), tags={
                "mlflow.experimentKind": "custom_model_development"})

    def _node_run(self, event: dict[str, Any]) -> str:
        node = event["node"]
        if node not in self.node_runs:
            run = self.client.create_run(
                self.experiment_id, run_name=node, start_time=_ms(event["time"]),
                tags={"mlflow.parentRunId": self.parent_id, "gristmill.node": node,
                      "gristmill.run_id": self.start["run_id"]})
            self.node_runs[node] = run.info.run_id
        return self.node_runs[node]

    def _on_start_node(self, event):
        self.client.set_tag(self._node_run(event), "gristmill.component_type", event["type"])

    def _on_params(self, event):
        self._log_batch(self._node_run(event), params={k: str(v)[:_PARAM_LIMIT]
                                                       for k, v in event["params"].items()})

    def _on_metrics(self, event):
        self._log_batch(self._node_run(event), metrics=event["metrics"], step=event["step"])

    def _on_artifact(self, event):
        run_id = self._node_run(event)
        if os.path.isdir(event["path"]):
            self.client.log_artifacts(run_id, event["path"], event["artifact_path"])
        else:
            target = Path(event["path"]).parent / "named" / event["name"]
            target.parent.mkdir(exist_ok=True)
            if os.path.exists(event["path"]):  # a retried replay finds it moved already
                os.replace(event["path"], target)
            self.client.log_artifact(run_id, str(target), event["artifact_path"])

    def _on_model(self, event):
        self.client.log_artifacts(self._node_run(event), event["path"], event["name"])

    def _on_end_node(self, event):
        run_id = self._node_run(event)
        params = {f"param.{k}": json.dumps(v, default=str)[:_PARAM_LIMIT]
                  for k, v in (event.get("parameters") or {}).items()}
        self._log_batch(run_id, params=params, metrics={"duration_seconds": event["seconds"],
                                                        **(event.get("metrics") or {})})
        tags = {"gristmill.state": event["state"], "gristmill.cached":
                str(event["state"] == "CACHED").lower(),
                "gristmill.execution_id": str(event["execution_id"]),
                "gristmill.inputs": json.dumps(event.get("inputs"))[:_PARAM_LIMIT],
                "gristmill.outputs": json.dumps(event.get("outputs"))[:_PARAM_LIMIT]}
        if event.get("error"):
            tags["gristmill.error"] = event["error"][:_PARAM_LIMIT]
        for key, value in tags.items():
            self.client.set_tag(run_id, key, value)
        rollup = {f"{event['node']}.{k}": v for k, v in (event.get("metrics") or {}).items()}
        self._log_batch(self.parent_id, metrics=rollup)
        status = {"COMPLETE": "FINISHED", "CACHED": "FINISHED", "FAILED": "FAILED"}.get(
            event["state"], "KILLED")
        self.client.set_terminated(run_id, status, end_time=_ms(event["time"]))

    def _on_end_pipeline(self, event):
        states = [e.get("state") for e in self.events if e["op"] == "end_node"]
        self._log_batch(self.parent_id, metrics={
            "pipeline_seconds": event["seconds"],
            "components_cached": states.count("CACHED"),
            "components_executed": states.count("COMPLETE"),
            "components_failed": states.count("FAILED")})
        self.client.set_tag(self.parent_id, "gristmill.status", event["status"])
        self._log_lineage()
        self._log_dag(event["status"], self._link_model_versions())
        self.client.set_terminated(self.parent_id,
                                   "FINISHED" if event["status"] == "COMPLETE" else "FAILED",
                                   end_time=_ms(event["time"]))

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
            self.client.log_text(run_id, lineage_view.render_node_html(node, flow, links),
                                 "lineage.html")
            self.client.set_tag(run_id, "mlflow.note.content", fit_note(
                lineage_view.render_node_markdown(node, flow, links)))

    def _link_model_versions(self) -> list[str]:
        """Link each model version a Pusher registered to the run that trained it; tag the
        parent with them. Returns the parent description's lines."""
        from gristmill.orchestrator.lineage_view import link_model_versions

        lines = link_model_versions(self.client, self.events, self.node_runs, self._links(),
                                    f"Pipeline {self.start['pipeline']} run "
                                    f"{self.start['run_id']}")
        if lines:
            self.client.set_tag(self.parent_id, "gristmill.model_versions",
                                ", ".join(name for name, _ in lines)[:_PARAM_LIMIT])
        return [line for _, line in lines]

    def _log_dag(self, status: str, model_lines: list[str]) -> None:
        """The parent run's ``dag.html`` artifact and Markdown description."""
        from gristmill.orchestrator import dag_view

        links = self._links()
        layout = dag_view.layout_dag(*dag_view.build_dag(
            dag_view.components_from_journal(self.events, links)))
        title = f"{self.start['pipeline']} run {self.start['run_id']} ({status})"
        self.client.log_text(self.parent_id, dag_view.render_html(layout, title, "/"),
                             "dag.html")
        note = dag_view.render_markdown(layout, title)
        if model_lines:
            note = "\n".join([note, "", "**Registered model versions**", "", *model_lines])
        self.client.set_tag(self.parent_id, "mlflow.note.content", fit_note(note))

    def _log_batch(self, run_id: str, *, params: dict | None = None,
                   metrics: dict | None = None, step: int | None = None) -> None:
        from mlflow.entities import Metric, Param

        now = _ms(None)
        # A step-less metric also comes back in end_node: record each point once.
        fresh = {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, (int, float))
                 and (run_id, k, step or 0, float(v)) not in self.logged
                 and _valid_name(k, "metric")}
        self.logged.update((run_id, k, step or 0, v) for k, v in fresh.items())
        metric_list = [Metric(k, v, now, step or 0) for k, v in fresh.items()]
        param_list = [Param(k, v) for k, v in (params or {}).items() if _valid_name(k, "param")]
        if metric_list or param_list:
            self.client.log_batch(run_id, metrics=metric_list, params=param_list)


def _valid_name(name: str, kind: str) -> bool:
    """True when MLflow accepts ``name`` as a metric/param name; otherwise warn, naming it.

    MLflow refuses names such as ``acc@5`` or ``f1 (macro)``; one such name must not keep
    the whole run (and every later journal) out of MLflow.
    """
    try:
        from mlflow.utils.validation import _validate_metric_name, _validate_param_name

        (_validate_metric_name if kind == "metric" else _validate_param_name)(name)
        return True
    except ImportError:  # MLflow moved its private validators: let log_batch decide
        return True
    except Exception as e:
        log.warning("MLflow mirror: %s %r skipped: MLflow refuses the name (%s)", kind, name,
                    str(e).splitlines()[0][:200])
        return False


def _artifact_root(tracking_uri: str, experiment: str) -> str | None:
    """Keep artifacts beside a SQLite tracking database (MLflow would use ./mlruns)."""
    db = sqlite_file(tracking_uri)
    return None if db is None else str(db.parent / "mlartifacts" / experiment)


def _ms(seconds: float | None) -> int:
    import time

    return int((time.time() if seconds is None else seconds) * 1000)


def ui_command(tracking_uri: str, host: str, port: int) -> list[str]:
    """The ``mlflow server`` command line that serves Gristmill's tracking store, with
    Gristmill's app (:mod:`gristmill.orchestrator.mlflow.ui_app`: the UI opens in
    model-training view); without that entry point installed, MLflow's own app and a
    warning saying how to install it."""
    from gristmill.orchestrator.mlflow.ui_app import APP_NAME, app_registered

    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri,
               "--host", host, "--port", str(port), "--workers", "1"]
    if app_registered():
        command += ["--app-name", APP_NAME]
    else:
        log.warning("gristmill ui: the MLflow app entry point '%s' is not installed, so a fresh "
                    "browser opens experiments in MLflow's GenAI view; reinstall Gristmill "
                    "(pip install -e .) to register it", APP_NAME)
    db = sqlite_file(tracking_uri)
    if db is not None:
        command += ["--default-artifact-root", str(db.parent / "mlartifacts")]
    return command


def main(argv: list[str] | None = None) -> int:
    """Entry point of the detached replay process (full tracking URI in the environment)."""
    logging.basicConfig(level=logging.WARNING)
    for path in argv if argv is not None else sys.argv[1:]:
        try:
            replay_file(path)
        except Exception as e:  # the pipeline already succeeded; leave the journal for retry
            log.warning("MLflow mirror replay of %s failed: %s", path, redact_text(str(e)))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
