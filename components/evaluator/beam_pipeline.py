"""The Evaluator's Beam pipeline: serve every eval example through the bundle, slice, score.

Shape::

    parquet files -> RecordBatches -> PredictAndSlice (bundles loaded once per DoFn in setup)
        -> (slice key, per-example arrays) -> CombinePerKey(concatenate) -> score_slice
        -> one JSON file of slices; skipped-row counts -> a second JSON file

Exact metrics need each slice's examples together, so the combiner concatenates arrays up to
``Options.max_examples_per_slice`` rows and refuses beyond that instead of approximating.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gristmill.components.beam import arrow_coder  # noqa: F401 (registers the batch coder)
from gristmill.components.beam.pipeline import make_beam_pipeline
from gristmill.components.evaluator.config import Options, SlicingSpec
from gristmill.components.evaluator.fairness import (
    ARRAY_PREFIX,
    fairness_of_slice,
    group_values,
)
from gristmill.components.evaluator.slicing import (
    class_indices,
    json_ready,
    probability_matrix,
    score_slice,
    slice_rows,
)
from gristmill.components.evaluator.trivial_baseline import TrivialPredictor
from gristmill.metadata.errors import DataError

BATCH_ROWS = 8192
SKIPPED_TAG = "skipped"


def read_record_batches(path: str, batch_rows: int = BATCH_ROWS):
    """Yield the RecordBatches of one Parquet file."""
    yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows)


def bundle_outputs(bundle: Any, table: pa.Table, classes: Sequence[Any]
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Serve ``table`` through ``bundle``: predicted values (class indices into ``classes`` for
    classification) and the probability matrix in ``classes`` order (``None`` for regression).

    The classes are matched by name. The Evaluator only compares a baseline whose classes
    are all among ``classes`` (see :mod:`.baseline_compat`); a class it does not know is
    never counted as another one.

    Raises:
        DataError: The bundle returned a different number of rows than it was given, or
            predicted a class outside ``classes``.
    """
    out = bundle.predict(table)
    if out.num_rows != table.num_rows:
        raise DataError(f"serving bundle returned {out.num_rows} predictions for "
                        f"{table.num_rows} records; expected one per record.",
                        fix="check the bundle's predict() for dropped rows")
    if bundle.task != "classification":
        return pc.cast(out["prediction"], pa.float64()).to_numpy(zero_copy_only=False), None
    own = probability_matrix(out["probabilities"], len(bundle.classes))
    # Reorder the bundle's columns into the candidate's class order (a baseline may differ).
    position = {str(c): i for i, c in enumerate(bundle.classes)}
    probs = np.zeros((table.num_rows, len(classes)))
    for j, c in enumerate(classes):
        if str(c) in position:
            probs[:, j] = own[:, position[str(c)]]
    predicted = class_indices(out["prediction"], classes)
    if (predicted < 0).any():
        unknown = sorted({str(v) for v, i in zip(out["prediction"].to_pylist(), predicted,
                                                  strict=True) if i < 0})
        raise DataError(f"serving bundle {bundle.uri} predicted class(es) {unknown} that are "
                        f"not among the evaluated classes {[str(c) for c in classes]}.",
                        fix="compare only models trained on the same label classes")
    return predicted, probs


class PredictAndSlice(beam.DoFn):
    """Predict a batch with the candidate (and baseline) bundle, emit per-slice arrays."""

    def __init__(self, candidate_uri: str, baseline_uri: str | None, label_key: str, task: str,
                 classes: Sequence[Any], specs: Sequence[SlicingSpec],
                 trivial: TrivialPredictor | None = None, sensitive: Sequence[str] = (),
                 candidate_type: str = "bundle"):
        self.candidate_type = candidate_type
        self.trivial = trivial
        self.sensitive = list(sensitive)
        self.candidate_uri = candidate_uri
        self.baseline_uri = baseline_uri
        self.label_key = label_key
        self.task = task
        self.classes = list(classes)
        self.specs = list(specs)

    def setup(self):
        from gristmill.engine.serving import load_bundle

        if self.candidate_type == "bundle":
            self.bundles = {"candidate": load_bundle(self.candidate_uri)}
        else:  # the raw-record ONNX graph (float or int8) answers for the candidate
            from gristmill.engine.onnx_runtime import load_raw_onnx

            self.bundles = {"candidate": load_raw_onnx(self.candidate_uri, self.candidate_type)}
        if self.baseline_uri:
            self.bundles["baseline"] = load_bundle(self.baseline_uri)

    def process(self, batch: pa.RecordBatch):
        table = pa.Table.from_batches([batch])
        labels, keep, skipped = self._labels(table)
        if skipped:
            yield beam.pvalue.TaggedOutput(SKIPPED_TAG, skipped)
        table = table.filter(pa.array(keep))
        labels = labels[keep]
        if table.num_rows == 0:
            return
        arrays = {"labels": labels}
        for name, bundle in self.bundles.items():
            arrays[f"{name}_pred"], probs = bundle_outputs(bundle, table, self.classes)
            if probs is not None:
                arrays[f"{name}_probs"] = probs
        if self.trivial is not None:
            arrays["trivial_pred"], probs = self.trivial.arrays(table.num_rows, len(self.classes))
            if probs is not None:
                arrays["trivial_probs"] = probs
        pieces, null_slices = slice_rows(table, self.specs)
        if null_slices:
            yield beam.pvalue.TaggedOutput(SKIPPED_TAG, null_slices)
        overall = {f"{ARRAY_PREFIX}{c}": group_values(table[c]) for c in self.sensitive}
        for key, rows in pieces:  # fairness groups ride with the overall slice only
            extra = overall if key == () else {}
            yield key, {**{name: array[rows] for name, array in arrays.items()}, **extra}

    def _labels(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
        if self.label_key not in table.column_names:
            raise DataError(f"Evaluator: label column {self.label_key!r} is not in the eval "
                            f"data (columns: {table.column_names}).",
                            fix="set ModelSpec(label_key=...) to the label column")
        column = table[self.label_key]
        if self.task == "classification":
            labels = class_indices(column, self.classes)
            skipped = {"null label": int((labels == -2).sum()),
                       "label not among the model's classes": int((labels == -1).sum())}
            return labels, labels >= 0, {k: v for k, v in skipped.items() if v}
        values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        keep = ~np.isnan(values)
        nulls = int((~keep).sum())
        return values, keep, ({"null label": nulls} if nulls else {})


class ConcatenateArrays(beam.CombineFn):
    """Gathers a slice's per-example arrays, refusing more than ``max_rows`` examples."""

    def __init__(self, max_rows: int):
        self.max_rows = max_rows

    def create_accumulator(self):
        return []

    def add_input(self, accumulator, element):
        accumulator.append(element)
        self._check(accumulator)
        return accumulator

    def merge_accumulators(self, accumulators):
        merged = [chunk for acc in accumulators for chunk in acc]
        self._check(merged)
        return merged

    def extract_output(self, accumulator):
        if not accumulator:
            return {}
        return {name: np.concatenate([chunk[name] for chunk in accumulator])
                for name in accumulator[0]}

    def _check(self, accumulator):
        rows = sum(chunk["labels"].shape[0] for chunk in accumulator)
        if rows > self.max_rows:
            raise DataError(f"Evaluator: a slice holds more than {self.max_rows} examples, the "
                            "bound for exact metrics.",
                            fix="raise Options(max_examples_per_slice=...) if memory allows, "
                                "or evaluate on a sampled eval split")


def _score(item: tuple[Any, dict[str, np.ndarray]], task: str, classes: list[Any],
           options: Options, positive: int | None = None) -> dict[str, Any]:
    arrays = {k: v for k, v in item[1].items() if not k.startswith(ARRAY_PREFIX)}
    result = score_slice(item[0], arrays, task, classes, options)
    if positive is not None and item[0] == () and arrays:
        result["fairness"] = fairness_of_slice(item[1], positive, classes)
    return result


def _merge_counts(counts: Sequence[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for item in counts:
        for reason, n in item.items():
            total[reason] = total.get(reason, 0) + n
    return total


def _write_json(value: Any, path: str) -> None:
    with open(path, "w") as f:
        json.dump(json_ready(value), f)


def run_evaluation(files: Sequence[str], *, candidate_uri: str, baseline_uri: str | None,
                   label_key: str, task: str, classes: Sequence[Any],
                   specs: Sequence[SlicingSpec], options: Options, slices_path: str,
                   skipped_path: str, beam_pipeline_args: Sequence[str] = (),
                   trivial: TrivialPredictor | None = None,
                   label_from_transform: bool = False, sensitive: Sequence[str] = (),
                   positive: int | None = None, candidate_type: str = "bundle") -> None:
    """Run the evaluation pipeline; results land in ``slices_path`` and ``skipped_path``.

    ``candidate_type`` (``ModelSpec.model_type``): ``bundle``, ``onnx`` or ``onnx_int8``.

    ``slices_path`` receives a JSON list of :func:`score_slice` results; ``skipped_path`` a
    JSON object of rows left out and why. ``label_from_transform``: the label is computed by
    the candidate's fitted transform (:mod:`.label_transform`). ``sensitive`` columns and
    the ``positive`` class index add fairness metrics to the overall slice (:mod:`.fairness`).
    """
    from gristmill.components.evaluator.label_transform import AddTransformedLabel

    with make_beam_pipeline(beam_pipeline_args) as p:
        batches = (p | "Files" >> beam.Create(list(files))
                   | "Read" >> beam.FlatMap(read_record_batches).with_output_types(
                       pa.RecordBatch))
        if label_from_transform:
            batches = batches | "TransformLabel" >> beam.ParDo(AddTransformedLabel(
                candidate_uri, label_key))
        outputs = (batches
                   | "PredictAndSlice" >> beam.ParDo(PredictAndSlice(
                       candidate_uri, baseline_uri, label_key, task, classes, specs, trivial,
                       sensitive, candidate_type))
                   .with_outputs(SKIPPED_TAG, main="slices"))
        _ = (outputs.slices
             | "Concatenate" >> beam.CombinePerKey(ConcatenateArrays(
                 options.max_examples_per_slice))
             | "Score" >> beam.Map(_score, task=task, classes=list(classes), options=options,
                                   positive=positive)
             | "Collect" >> beam.combiners.ToList()
             | "WriteSlices" >> beam.Map(_write_json, slices_path))
        _ = (outputs[SKIPPED_TAG]
             | "CountSkipped" >> beam.CombineGlobally(_merge_counts)
             | "WriteSkipped" >> beam.Map(_write_json, skipped_path))
