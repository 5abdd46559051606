"""What the end of ``gristmill run`` says: the run's state and counts, failed / halted /
skipped components, the headline results (the evaluation's metrics, BLESSED / NOT BLESSED,
the pushed model's registry version and alias) and where the run is in MLflow. Read from the
nodes' output artifacts, whatever their ids.

:func:`summary_markup` builds the whole summary before anything is printed, and the CLI
prints it in one write: a log record emitted while the figures are gathered (the MLflow
location, the artifacts) lands above the summary, never between its lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rich.markup import escape

from gristmill.metadata.settings import redact_text

#: Metrics shown first when an evaluation has them; the rest follow by name.
_FIRST_METRICS = ("accuracy", "auc", "binary_accuracy", "rmse", "mean_squared_error", "loss")
_METRICS_SHOWN = 4
#: The file the mirror's replay writes beside a run's journal: where the run is in MLflow.
MLFLOW_LOCATION_SUFFIX = ".mlflow.json"


def headline_lines(components: Iterable[Any]) -> list[tuple[str, str]]:
    """``(label, text)`` rows: one per evaluation, blessing and push in the run.

    Args:
        components: The run's :class:`~gristmill.orchestrator.hooks.NodeResult` objects.
    """
    rows = []
    for node in components:
        for artifacts in (node.outputs or {}).values():
            for artifact in artifacts:
                row = _headline(node.node_id, artifact.type_name,
                                artifact.custom_properties or {})
                if row:
                    rows.append(row)
    order = {"evaluated:": 0, "blessing:": 1, "pushed:": 2}
    return sorted(rows, key=lambda row: order[row[0]])


def _headline(node_id: str, type_name: str, props: Mapping[str, Any]
              ) -> tuple[str, str] | None:
    if type_name == "ModelEvaluation" and isinstance(props.get("overall_metrics"), dict):
        return "evaluated:", f"{node_id}: {_metrics_text(props['overall_metrics'])}"
    if type_name == "ModelBlessing" and props.get("blessed") is not None:
        if int(props["blessed"]) == 1:
            return "blessing:", f"{node_id}: BLESSED"
        why = props.get("blessing_message") or "no reason recorded"
        return "blessing:", f"{node_id}: NOT BLESSED ({why})"
    if type_name == "PushedModel" and props.get("pushed") is not None:
        if int(props["pushed"]) != 1:
            return "pushed:", (f"{node_id}: NOT pushed "
                               f"({props.get('reason') or 'no reason recorded'})")
        registry = ""
        if props.get("registered_model_name"):
            alias = props.get("registered_model_alias")
            registry = (f"{props['registered_model_name']} version "
                        f"{props.get('registered_model_version')}"
                        f"{f' (alias {alias})' if alias else ''}, ")
        elif props.get("registry_skipped"):
            registry = "not registered (no tracking_uri), "
        return "pushed:", f"{node_id}: {registry}{props.get('pushed_destination', '')}"
    return None


def _metrics_text(metrics: Mapping[str, Any]) -> str:
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    names = sorted(numbers, key=lambda k: (_FIRST_METRICS.index(k) if k in _FIRST_METRICS
                                           else len(_FIRST_METRICS), k))
    shown = ", ".join(f"{k} {_number(k, numbers[k])}" for k in names[:_METRICS_SHOWN])
    more = len(names) - _METRICS_SHOWN
    return shown + (f" (+{more} more in MLflow)" if more > 0 else "") if shown else "no metrics"


def _number(name: str, value: float) -> str:
    """Counts as integers (``example_count 114``), other metrics with 4 decimals
    (``accuracy 1.0000``, never ``1``), never scientific notation."""
    if ("count" in name or name.startswith("num_")) and float(value).is_integer():
        return str(int(value))
    return f"{value:.4f}"


def write_mlflow_location(mirror_dir: Path, run_id: str, experiment_id: str,
                          parent_run_id: str) -> None:
    """Record where the replay put ``run_id`` in MLflow (read by :func:`mlflow_location`)."""
    (mirror_dir / f"{run_id}{MLFLOW_LOCATION_SUFFIX}").write_text(json.dumps(
        {"experiment_id": experiment_id, "parent_run_id": parent_run_id}))


def mlflow_location(mirror_dir: Path, run_id: str) -> dict[str, str] | None:
    """The experiment and parent run ids the mirror gave ``run_id``, once replayed."""
    path = mirror_dir / f"{run_id}{MLFLOW_LOCATION_SUFFIX}"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def mlflow_line(mirror_dir: Path, run_id: str, mode: str,
                ui_base: str = "http://127.0.0.1:5000") -> str:
    """The run's MLflow URL when the mirror has replayed it, else where it stands.

    Args:
        mirror_dir: Where the run journals are.
        run_id: The pipeline run.
        mode: The mirror mode now (``async``, ``sync``, ``off``).
    """
    where = mlflow_location(mirror_dir, run_id)
    if where:
        return (f"{ui_base}/#/experiments/{where['experiment_id']}/runs/"
                f"{where['parent_run_id']}   (after `gristmill ui`)")
    journal = mirror_dir / run_id
    if journal.with_suffix(".ready").exists() and journal.with_suffix(".log").exists():
        return (f"not in MLflow yet: its replay failed (see {journal.with_suffix('.log')}); "
                "`gristmill ui` retries it")
    if journal.with_suffix(".ready").exists() or journal.with_suffix(".jsonl").exists():
        return (f"being mirrored in the background; `gristmill ui`, then the run named {run_id} "
                "(`gristmill runs show ID` prints its URL once mirrored)")
    if journal.with_suffix(".done").exists():
        return f"mirrored; `gristmill ui`, then the run named {run_id}"
    if mode == "off":
        return "not mirrored (GRISTMILL_MLFLOW_MIRROR=off)"
    return f"no MLflow journal for this run in {mirror_dir}"


_STATUS_STYLE = {"COMPLETE": "green", "HALTED": "bold yellow"}
_HALTED = ("HALTED: a validation check stopped the run (see 'halted by' below); this is not a "
           "success")


def summary_rows(result: Any, mlflow: str | None) -> list[tuple[str, str]]:
    """``(label, text)`` rows of the summary below its headline, in print order.

    Args:
        result: The :class:`~gristmill.orchestrator.runner.RunResult`.
        mlflow: What :func:`mlflow_line` says, or ``None`` when tracking is off.
    """
    rows: list[tuple[str, str]] = []
    for node in result.components:
        if node.state.value == "FAILED":  # its first line; the whole error is printed above
            first_line = (node.error or "failed (no message)").splitlines()[0]
            rows.append(("failed:", f"{node.node_id}: {redact_text(first_line)}"))
        if node.halt_reason:
            rows.append(("halted by:", f"{node.node_id}: {node.halt_reason}\n"
                                       "fix the data (or relax the check), then run again"))
        if node.skipped:
            rows.append(("skipped:",
                         f"{node.node_id}: {(node.error or '').removeprefix('skipped: ')}"))
    rows += [(label, redact_text(text)) for label, text in headline_lines(result.components)]
    rows += [("run id:", result.run_id), ("artifacts:", result.root)]
    if mlflow is not None:
        rows.append(("mlflow:", mlflow))
    if result.resume_command:
        rows.append(("resume:", f"{result.resume_command}   (completed components come from "
                                "cache)"))
    return rows


def summary_markup(result: Any, mlflow: str | None) -> str:
    """The whole summary as Rich markup (user text escaped), to print in one write.

    Labels form one column as wide as the longest label; a row's continuation lines are
    indented to its text column.
    """
    counts: dict[str, int] = {}
    for node in result.components:
        counts[node.display_state] = counts.get(node.display_state, 0) + 1
    tally = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
    style = _STATUS_STYLE.get(result.status, "bold red")
    headline = _HALTED if result.status == "HALTED" else result.status
    lines = [f"[{style}]{headline}[/] in {result.seconds:.2f}s ({tally})"]
    rows = summary_rows(result, mlflow)
    width = max([10, *(len(label) for label, _ in rows)])
    for label, text in rows:
        first, *more = text.split("\n")
        shown = f"[red]{label}[/]" + " " * (width - len(label)) if label == "failed:" \
            else f"{label:<{width}}"
        lines.append(f"  {shown} {escape(first)}")
        lines += [f"  {'':<{width}} {escape(line)}" for line in more]
    return "\n".join(lines)
