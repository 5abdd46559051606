"""InfraValidator: start the candidate for real, query it, and write an infra blessing.

TFX's ``InfraValidator`` with the same names, minus Docker: the model server is a separate
local process (:mod:`gristmill.components.infra_validator.serve`) bound to ``127.0.0.1``.
Per try it:

1. starts the server on the bundle and waits until it answers ``/ping``, within
   ``ValidationSpec.max_loading_time_seconds`` (a process that exits early failed to load);
2. with ``examples`` (LOAD_AND_QUERY), sends ``RequestSpec.num_examples`` eval records with the
   label dropped and checks the answers: one per record, no error, predictions in the model's
   class set (finite numbers for regression), probabilities summing to one;
3. stops the process by its PID (terminate, then kill after a grace period), always.

It tries up to ``ValidationSpec.num_tries`` times. Output ``blessing`` (InfraBlessing): empty
``BLESSED``/``NOT_BLESSED`` file, ``blessing.json``; custom properties ``blessed``,
``current_model_id``, ``blessing_message``, ``load_seconds``.
"""

from __future__ import annotations

import json
import logging
import os

import pyarrow.parquet as pq

from gristmill.components.framework.executor import BaseExecutor
from gristmill.components.infra_validator.config import InfraValidatorParameters, RequestSpec
from gristmill.components.infra_validator.serving_process import (
    InfraFailure,
    LoaderProcess,
    check_predictions,
)
from gristmill.metadata.errors import ConfigError, DataError
from gristmill.metadata.standard_artifacts import Examples, InfraBlessing, Model

log = logging.getLogger(__name__)


def build_requests(examples: Examples, spec: RequestSpec, label_key: str,
                   required: list[str] | None = None) -> list[dict]:
    """The first ``num_examples`` records of the request split, label column dropped.

    Raises:
        ConfigError: The split does not exist, or lacks a raw column of ``required``.
        DataError: The split holds no rows.
    """
    splits = examples.splits
    split = spec.split_name or ("eval" if "eval" in splits or not splits else splits[0])
    if splits and split not in splits:
        raise ConfigError(f"InfraValidator: request split {split!r} is not in the examples "
                          f"(splits: {splits}).", fix=f"set RequestSpec(split_name=...) to one "
                                                      f"of {splits}")
    directory = examples.split_uri(split)
    files = sorted(f for f in os.listdir(directory) if f.endswith(".parquet")) \
        if os.path.isdir(directory) else []
    records: list[dict] = []
    for name in files:
        parquet = pq.ParquetFile(os.path.join(directory, name))
        missing = [c for c in required or [] if c not in parquet.schema_arrow.names]
        if missing:
            raise ConfigError(f"InfraValidator: the request examples lack raw column(s) "
                              f"{missing} that the model reads ({directory}/{name}).",
                              fix="give InfraValidator raw examples (ExampleGen's, not "
                                  "Transform's transformed_examples)")
        for batch in parquet.iter_batches(batch_size=spec.num_examples):
            if label_key in batch.schema.names:
                batch = batch.drop_columns([label_key])
            records.extend(batch.to_pylist()[: spec.num_examples - len(records)])
            if len(records) == spec.num_examples:
                return records
    if not records:
        raise DataError(f"InfraValidator: no rows in {directory} to build requests from.",
                        fix="point examples at a non-empty split or leave examples out "
                            "for a load-only check")
    return records


class InfraValidatorExecutor(BaseExecutor):
    """Starts, queries and stops the model server; writes the infra blessing."""

    def Do(self, input_dict, output_dict, exec_properties: InfraValidatorParameters) -> None:
        from gristmill.engine.serving import read_config, required_columns

        model = input_dict["model"][0]
        config = read_config(model.uri)
        examples = (input_dict.get("examples") or [None])[0]
        records = (build_requests(examples, exec_properties.request_spec, config["label_key"],
                                  required_columns(model.uri))
                   if examples is not None else [])
        workdir = self.context.tmp_dir or output_dict["blessing"][0].uri
        attempts = []
        for attempt in range(1, exec_properties.validation_spec.num_tries + 1):
            outcome = self._try_once(model.uri, records, config, exec_properties, workdir,
                                     attempt)
            attempts.append(outcome)
            if outcome["ok"]:
                break
            log.warning("InfraValidator: try %d failed: %s", attempt, outcome["reason"])
        self._write(output_dict["blessing"][0], model, attempts, len(records), exec_properties)

    def _try_once(self, uri, records, config, params: InfraValidatorParameters, workdir,
                  attempt) -> dict:
        server = LoaderProcess(uri, os.path.join(workdir, f"try-{attempt}"),
                               host=params.serving_spec.host)
        outcome: dict = {"try": attempt, "ok": False}
        try:
            server.start()
            outcome["pid"] = server.pid
            outcome["load_seconds"] = server.wait_ready(
                params.validation_spec.max_loading_time_seconds)
            if records:
                answer = server.invoke(records)
                check_predictions(answer, len(records), config["task"], config["classes"])
                outcome["warnings"] = answer.get("warnings") or []
            outcome["ok"] = True
            outcome["reason"] = (f"loaded in {outcome['load_seconds']:.2f}s and answered "
                                 f"{len(records)} request record(s) correctly" if records else
                                 f"loaded in {outcome['load_seconds']:.2f}s (load-only check)")
        except InfraFailure as e:
            outcome["reason"] = str(e)
        finally:
            outcome["exit_code"] = server.stop()
        return outcome

    def _write(self, artifact: InfraBlessing, model: Model, attempts: list[dict],
               num_records: int, params: InfraValidatorParameters) -> None:
        final = attempts[-1]
        blessed = bool(final["ok"])
        open(os.path.join(artifact.uri, "BLESSED" if blessed else "NOT_BLESSED"), "w").close()
        payload = {"blessed": blessed, "reasons": [a["reason"] for a in attempts],
                   "mode": "LOAD_AND_QUERY" if num_records else "LOAD_ONLY",
                   "model_name": params.serving_spec.model_name or str(model.id),
                   "current_model": {"id": model.id, "uri": model.uri}, "tries": attempts}
        with open(os.path.join(artifact.uri, "blessing.json"), "w") as f:
            json.dump(payload, f, indent=1)
        artifact.set_custom_property("blessed", 1 if blessed else 0)
        artifact.set_custom_property("current_model_id", model.id)
        artifact.set_custom_property("blessing_message", final["reason"])
        if final.get("load_seconds") is not None:
            artifact.set_custom_property("load_seconds", final["load_seconds"])
            self.context.log_metrics({"infra_load_seconds": final["load_seconds"]})
        self.context.log_metrics({"infra_blessed": 1.0 if blessed else 0.0})
