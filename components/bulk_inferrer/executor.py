"""BulkInferrer: batch predictions for unlabelled examples with the blessed model, on Beam.

TFX's ``BulkInferrer`` with the same names. Each input Parquet file becomes one output file
with the same rows in the same order, so row counts match by construction (and are checked).

Outputs:

* ``output_examples`` (Examples): the input columns plus ``prediction`` (and
  ``probabilities`` for classification), ``Split-<name>/part-NNNNN.parquet``.
* ``inference_result`` (InferenceResult): only the prediction columns, same layout.

When ``model_blessing`` says NOT blessed nothing is inferred: both outputs are empty, carry
``inferred=0`` and the reason, and downstream nodes are halted (TFX skips the same way).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from gristmill.components.beam.pipeline import make_beam_pipeline
from gristmill.components.bulk_inferrer.config import BulkInferrerParameters
from gristmill.components.framework.blessing import blessing_verdict
from gristmill.components.framework.executor import BaseExecutor
from gristmill.components.framework.row_progress import RowCounter
from gristmill.metadata.errors import ConfigError, DataError, ExecutorError
from gristmill.metadata.standard_artifacts import (
    Examples,
)

log = logging.getLogger(__name__)
BATCH_ROWS = 8192


def infer_file(source: str, examples_path: str, result_path: str, model_uri: str,
               bundle_cache: dict) -> int:
    """Predict every row of one Parquet file; write both outputs; return the row count.

    Raises:
        DataError: An input column is named like a prediction column.
    """
    from gristmill.engine.serving import load_bundle

    if model_uri not in bundle_cache:
        bundle_cache[model_uri] = load_bundle(model_uri)
    bundle = bundle_cache[model_uri]
    reader = pq.ParquetFile(source)
    batches = reader.iter_batches(batch_size=BATCH_ROWS)
    if reader.metadata.num_rows == 0:  # an empty input still gets an (empty) output file
        batches = iter([pa.RecordBatch.from_pylist([], schema=reader.schema_arrow)])
    examples_writer = result_writer = None
    rows = 0
    try:
        for batch in batches:
            predictions = bundle.predict(batch)
            clash = set(predictions.column_names) & set(batch.schema.names)
            if clash:
                raise DataError(f"BulkInferrer: {source} already has column(s) {sorted(clash)}, "
                                f"which the prediction columns would overwrite.",
                                fix="rename those input columns before inference")
            table = pa.Table.from_batches([batch])
            for name in predictions.column_names:
                table = table.append_column(name, predictions[name])
            if examples_writer is None:
                examples_writer = pq.ParquetWriter(examples_path, table.schema)
                result_writer = pq.ParquetWriter(result_path, predictions.schema)
            examples_writer.write_table(table)
            result_writer.write_table(predictions)
            rows += batch.num_rows
    finally:
        for writer in (examples_writer, result_writer):
            if writer is not None:
                writer.close()
    return rows


def check_columns(files: Sequence[str], model_uri: str, model_id) -> None:
    """Refuse input files that lack a raw column the model reads (before any prediction).

    Raises:
        ConfigError: naming the missing columns, the file and the fix.
    """
    from gristmill.engine.serving import required_columns

    required = required_columns(model_uri)
    for path in files:
        present = pq.read_schema(path).names
        missing = [c for c in required if c not in present]
        if missing:
            raise ConfigError(f"BulkInferrer: the examples lack raw column(s) {missing} that "
                              f"model {model_id} reads ({path} has {present}); predicting "
                              "would feed the model missing values on every row.",
                              fix="give BulkInferrer raw examples with every feature column "
                                  "(ExampleGen's, not Transform's transformed_examples)")


def _split_dir(artifact, split: str) -> str:
    return os.path.join(artifact.uri, f"Split-{split}")


def _set_splits(artifact, splits: list[str], counts: dict[str, int]) -> None:
    # Examples declares these as properties; InferenceResult keeps them as custom ones.
    if isinstance(artifact, Examples):
        artifact.splits = list(splits)
        artifact.set_property("row_counts", counts)
    else:
        artifact.set_custom_property("split_names", list(splits))
        artifact.set_custom_property("row_counts", counts)


def _run_beam(jobs: Sequence[tuple[str, str, str]], model_uri: str, beam_args: Sequence[str]
              ) -> None:
    import apache_beam as beam

    class InferFile(beam.DoFn):
        def __init__(self):
            self.progress = RowCounter()

        def setup(self):
            self.cache: dict = {}

        def process(self, job):
            rows = infer_file(*job, model_uri, self.cache)
            self.progress.add(rows)
            yield rows

    with make_beam_pipeline(beam_args) as p:
        _ = p | "Files" >> beam.Create(list(jobs)) | "Infer" >> beam.ParDo(InferFile())


class BulkInferrerExecutor(BaseExecutor):
    """Runs batch inference on Beam and records per-split row counts."""

    def Do(self, input_dict, output_dict, exec_properties: BulkInferrerParameters) -> None:
        examples, model = input_dict["examples"][0], input_dict["model"][0]
        outputs = [output_dict["output_examples"][0], output_dict["inference_result"][0]]
        reason = blessing_verdict("model_blessing",
                                  (input_dict.get("model_blessing") or [None])[0], model)
        if reason:
            for artifact in outputs:
                artifact.set_custom_property("inferred", 0)
                artifact.set_custom_property("reason", reason)
                _set_splits(artifact, [], {})
            self.context.halt_downstream(f"BulkInferrer skipped: {reason}")
            log.warning("BulkInferrer: not inferring: %s", reason)
            return
        splits = exec_properties.data_spec.example_splits or examples.splits
        jobs, expected = self._plan(examples, splits, outputs)
        check_columns([job[0] for job in jobs], model.uri, model.id)
        _run_beam(jobs, model.uri, self.context.beam_pipeline_args)
        counts = self._count(outputs, splits, expected)
        for artifact in outputs:
            _set_splits(artifact, splits, counts)
            artifact.set_custom_property("inferred", 1)
            artifact.set_custom_property("model_id", model.id)
        self.context.log_metrics({"inferred_rows": float(sum(counts.values()))})

    def _plan(self, examples: Examples, splits: list[str], outputs: list
              ) -> tuple[list[tuple[str, str, str]], dict[str, int]]:
        jobs, expected = [], {}
        for split in splits:
            if examples.splits and split not in examples.splits:
                raise ConfigError(f"BulkInferrer: split {split!r} is not in the examples "
                                  f"(splits: {examples.splits}).",
                                  fix=f"set DataSpec(example_splits=...) to some of "
                                      f"{examples.splits}")
            directory = examples.split_uri(split)
            files = sorted(f for f in os.listdir(directory) if f.endswith(".parquet")) \
                if os.path.isdir(directory) else []
            if not files:
                raise DataError(f"BulkInferrer: no .parquet files in {directory}.",
                                fix="point examples at an ExampleGen/Transform output")
            expected[split] = sum(pq.ParquetFile(os.path.join(directory, f)).metadata.num_rows
                                  for f in files)
            for artifact in outputs:
                os.makedirs(_split_dir(artifact, split), exist_ok=True)
            for i, name in enumerate(files):
                targets = [os.path.join(_split_dir(a, split), f"part-{i:05d}.parquet")
                           for a in outputs]
                jobs.append((os.path.join(directory, name), *targets))
        return jobs, expected

    def _count(self, outputs: list, splits: list[str], expected: dict[str, int]
               ) -> dict[str, int]:
        counts = {}
        for split in splits:
            for artifact in outputs:
                directory = _split_dir(artifact, split)
                got = sum(pq.ParquetFile(os.path.join(directory, f)).metadata.num_rows
                          for f in os.listdir(directory) if f.endswith(".parquet"))
                if got != expected[split]:
                    raise ExecutorError(f"BulkInferrer: split {split!r} has {expected[split]} "
                                        f"input rows but {got} output rows in {directory}.",
                                        fix="report this as a bug")
            counts[split] = expected[split]
        with open(os.path.join(outputs[0].uri, "row_counts.json"), "w") as f:
            json.dump(counts, f)
        return counts
