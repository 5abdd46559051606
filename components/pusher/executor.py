"""Pusher: ship a blessed model to a versioned directory and the MLflow Model Registry.

TFX's ``Pusher`` with the same names. It pushes only when every wired blessing says yes
(``model_blessing`` from the Evaluator, ``infra_blessing`` from the InfraValidator) and the
blessing is about this very model; otherwise it records why it did not push. A manual
decision made with ``gristmill bless`` (:mod:`.manual_override`) overrides the Evaluator's
verdict: a manual blessing pushes a model the Evaluator refused, a revoke blocks a push.

* Filesystem: the bundle is copied to ``<base_directory>/<version>.tmp-<pid>`` and renamed to
  ``<base_directory>/<version>`` in one atomic step, so a reader never sees half a model.
* Registry (when the pipeline has a ``tracking_uri``): the pushed copy's ``mlflow_model/`` is
  registered as a new version of ``registered_model_name`` (from the component's MLflow run
  when it has one, else straight from the pushed directory, creating no run), tagged back
  to the pipeline run, execution and artifact ids, and given the alias ``champion``.

Model card: ``model_card.html`` (self-contained, :mod:`.model_card`) and ``model_card.json``
go into the output artifact on every run (a refused model's card says why it was refused),
into the pushed version directory when pushed (inside the atomic rename) and onto the
Pusher's MLflow run.

Output ``pushed_model`` (PushedModel): ``push_result.json``, ``model_card.html``,
``model_card.json``; custom properties ``pushed``
(1/0), ``pushed_destination``, ``pushed_version``, ``registered_model_name``,
``registered_model_version``, ``reason`` (when not pushed) and ``registry_skipped``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from typing import Any

from gristmill.components.framework.blessing import blessing_verdict
from gristmill.components.framework.executor import BaseExecutor
from gristmill.components.pusher.config import Filesystem, PusherParameters, Versioning
from gristmill.components.pusher.manual_override import describe, latest_manual_blessing
from gristmill.components.pusher.model_card import (
    CARD_FILE,
    FACTS_FILE,
    gather_card_facts,
    write_model_card,
)
from gristmill.components.pusher.model_registry import register_model_version
from gristmill.metadata.errors import ExecutorError
from gristmill.metadata.standard_artifacts import Model, PushedModel

log = logging.getLogger(__name__)


def next_version(base: str, versioning: Versioning) -> int:
    """The next version number under ``base``: max existing integer + 1, or the current time."""
    if versioning == Versioning.UNIX_TIMESTAMP:
        return int(time.time())
    existing = [int(n) for n in os.listdir(base) if n.isdigit()] if os.path.isdir(base) else []
    return max(existing, default=0) + 1


def push_to_filesystem(model_dir: str, destination: Filesystem,
                       extra_files: tuple[str, ...] = ()) -> tuple[str, int]:
    """Copy ``model_dir`` (and ``extra_files``, e.g. the model card) into a new version
    directory atomically.

    The copy goes to a temporary sibling first and is renamed into place; when another writer
    took the version meanwhile, the next number is tried. A reader never sees a pushed
    version without its extra files.

    Returns:
        ``(pushed directory, version)``.
    """
    base = os.path.abspath(destination.base_directory)
    os.makedirs(base, exist_ok=True)
    version = next_version(base, destination.versioning)
    staging = os.path.join(base, f"{version}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(model_dir, staging)
    for path in extra_files:
        shutil.copy2(path, os.path.join(staging, os.path.basename(path)))
    for _ in range(1000):
        target = os.path.join(base, str(version))
        if not os.path.exists(target):
            try:
                os.rename(staging, target)
                return target, version
            except OSError:  # lost a race for this version; try the next one
                pass
        version += 1
    shutil.rmtree(staging, ignore_errors=True)
    raise ExecutorError(f"Pusher: could not find a free version directory under {base}.",
                        fix="clean up the destination directory")


class PusherExecutor(BaseExecutor):
    """Checks the blessings, then pushes to the filesystem and the registry."""

    def Do(self, input_dict, output_dict, exec_properties: PusherParameters) -> None:
        model = input_dict["model"][0]
        pushed = output_dict["pushed_model"][0]
        # On an object-store root the executor reads a local copy; records name the model
        # by its URI in the store (``remote_uri``, set on such copies).
        model_uri = getattr(model, "remote_uri", None) or model.uri
        manual = latest_manual_blessing(model_uri)
        reasons = self._blessing_reasons(input_dict, model, manual)
        extra = {"manual_blessing": describe(manual)} if manual is not None else {}
        result: dict[str, Any] = {"pushed": 0 if reasons else 1, "model_id": model.id,
                                  "model_uri": model_uri, **extra}
        if reasons:
            result["reason"] = "; ".join(reasons)
            log.warning("Pusher: model %s not pushed: %s", model.id, result["reason"])
        facts = gather_card_facts(input_dict, result, exec_properties.model_card,
                                  self.context, manual)
        card = write_model_card(pushed.uri, facts)
        if not reasons:
            destination, version = push_to_filesystem(
                model.uri, exec_properties.push_destination.filesystem,
                extra_files=(card, os.path.join(pushed.uri, FACTS_FILE)))
            result.update(pushed_destination=destination, pushed_version=str(version))
            result.update(self._register(model, destination, exec_properties))
            # Now the card can name its version: rewritten in place (atomic replace).
            facts["push"] = dict(result)
            for directory in (pushed.uri, destination):
                write_model_card(directory, facts)
        self.context.attach_report(card)
        result["model_card"] = CARD_FILE
        self._record(pushed, result)

    def _blessing_reasons(self, input_dict, model: Model, manual: dict[str, Any] | None
                          ) -> list[str]:
        """Why the model must not be pushed (empty: push). A manual decision overrides the
        Evaluator's verdict, never the InfraValidator's."""
        model_verdict = blessing_verdict(
            "model_blessing", (input_dict.get("model_blessing") or [None])[0], model)
        if manual is not None:  # a human's newest decision overrides the Evaluator's
            note = describe(manual)
            log.warning("Pusher: model %s %s", model.id, note)
            model_verdict = None if manual["blessed"] else note
            self.context.log_metrics({"manual_blessed": 1.0 if manual["blessed"] else 0.0})
            self.context.log_params({"manual_blessing": note})
        infra = blessing_verdict("infra_blessing",
                                 (input_dict.get("infra_blessing") or [None])[0], model)
        return [r for r in (model_verdict, infra) if r]

    def _register(self, model: Model, destination: str, params: PusherParameters
                  ) -> dict[str, Any]:
        ctx = self.context
        if not ctx.tracking_uri:
            reason = "no tracking_uri on the pipeline, so the MLflow registry was skipped"
            log.warning("Pusher: %s", reason)
            return {"registry_skipped": reason}
        name = params.registered_model_name or ctx.pipeline_name or "gristmill-model"
        tags = {"gristmill.pipeline": ctx.pipeline_name, "gristmill.run_id": ctx.run_id,
                "gristmill.model_artifact_id": str(model.id),
                "gristmill.execution_id": str(ctx.execution_id),
                "gristmill.pushed_destination": destination}
        version = register_model_version(ctx.tracking_uri, name, destination, tags=tags,
                                         alias=params.alias, run_id=ctx.mlflow_run_id)
        return {"registered_model_name": name, "registered_model_version": str(version),
                "registered_model_alias": params.alias}

    def _record(self, artifact: PushedModel, result: dict[str, Any]) -> None:
        with open(os.path.join(artifact.uri, "push_result.json"), "w") as f:
            json.dump(result, f, indent=1)
        for key, value in result.items():
            artifact.set_custom_property(key, value)
        self.context.log_metrics({"pushed": float(result["pushed"])})
