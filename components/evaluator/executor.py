"""Evaluator: score the serving bundle on the eval split, slice it, and decide the blessing.

TFX's ``Evaluator`` (TFMA) with the same names. The candidate is evaluated through the path
that will serve (raw records -> ``ServingBundle.predict``), on Beam. Outputs:

Before scoring it refuses eval data without the raw columns the model reads and sets aside
a baseline model on another label space (:mod:`.inputs`); every slice is also scored for the
trivial baseline, which gates the blessing (:mod:`.trivial_baseline`).

* ``evaluation`` (ModelEvaluation): ``metrics.json`` (metrics per slice for the candidate,
  the baseline and the trivial baseline, omitted slices, skipped rows), ``validations.json``
  (every threshold check), ``slice_gaps.json`` (worst slices against overall, for fairness
  review), ``report.html``.
* ``blessing`` (ModelBlessing): empty ``BLESSED`` or ``NOT_BLESSED`` file, ``blessing.json``
  with the reasons; custom properties ``blessed`` (1/0), ``current_model_id``,
  ``baseline_model_id``, ``blessing_message``.

Example::

    evaluator = Evaluator(
        examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
        baseline_model=resolver.outputs["model"],
        eval_config=EvalConfig(
            model_specs=[ModelSpec(label_key="species")],
            slicing_specs=[SlicingSpec(), SlicingSpec(feature_keys=["island"])],
            metrics_specs=[MetricsSpec(metrics=[MetricConfig(
                class_name="Accuracy", threshold=MetricThreshold(
                    value_threshold=GenericValueThreshold(lower_bound=0.6)))])]))
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from typing import Any

from gristmill.components.evaluator.attributions import (
    logged_metrics as attribution_metrics,
)
from gristmill.components.evaluator.attributions import (
    permutation_importance,
)
from gristmill.components.evaluator.config import EvaluatorParameters
from gristmill.components.evaluator.fairness import (
    apply_fairness_gate,
    check_sensitive_columns,
    positive_index,
)
from gristmill.components.evaluator.fairness import logged_metrics as fairness_metrics
from gristmill.components.evaluator.inputs import (
    baseline_problem,
    check_candidate_type,
    check_eval_columns,
    check_slicing_columns,
)
from gristmill.components.evaluator.slice_gaps import slice_gap_report
from gristmill.components.evaluator.trivial_baseline import (
    TrivialPredictor,
    apply_gate,
    logged_metrics,
)
from gristmill.components.evaluator.validation import (
    OVERALL,
    ValidationResult,
    check_metric_names,
    validate,
)
from gristmill.components.framework.executor import BaseExecutor
from gristmill.metadata.errors import ConfigError, DataError
from gristmill.metadata.standard_artifacts import (
    Examples,
    Model,
    ModelBlessing,
    ModelEvaluation,
)

log = logging.getLogger(__name__)


class EvaluatorExecutor(BaseExecutor):
    """Runs the Beam evaluation, applies thresholds, writes evaluation and blessing."""

    def Do(self, input_dict, output_dict, exec_properties: EvaluatorParameters) -> None:
        from gristmill.engine.serving import read_config

        config = exec_properties.eval_config
        model = input_dict["model"][0]
        baseline = (input_dict.get("baseline_model") or [None])[0]
        bundle = read_config(model.uri)  # metadata only; Beam workers load the model
        task, classes = bundle["task"], list(bundle.get("classes") or [])
        check_metric_names(config, task)
        check_candidate_type(config.model_specs[0].model_type, bundle, model.uri)
        label_key = config.model_specs[0].label_key or bundle["label_key"]
        files = split_files(input_dict["examples"][0], exec_properties.example_splits)
        check_eval_columns(files, model.uri, model.id, input_dict["examples"][0])
        check_slicing_columns(files, config.slicing_specs)
        check_sensitive_columns(files, config.fairness)
        baseline_note = _baseline_note(bundle, baseline, files)
        compared = baseline if baseline_note is None else None
        trivial = TrivialPredictor.from_bundle(bundle)
        slices, skipped = self._score(files, model, compared, label_key, task, classes, config,
                                      trivial)
        scored = sorted((s for s in slices if not s.get("omitted")),
                        key=lambda s: (s["slice"] != OVERALL, s["slice"]))
        omitted = sorted(({"slice": s["slice"], "example_count": s["example_count"]}
                          for s in slices if s.get("omitted")), key=lambda s: s["slice"])
        if not scored:
            raise _nothing_scored(input_dict["examples"][0], exec_properties.example_splits,
                                  files, skipped)
        result = validate(config, scored, has_baseline=compared is not None,
                          baseline_note=baseline_note)
        result = apply_gate(result, scored[0], task, config.options.trivial_baseline_gate)
        fairness = scored[0].pop("fairness", None)
        result = apply_fairness_gate(result, fairness, config.fairness)
        summary = {"task": task, "label_key": label_key, "classes": [str(c) for c in classes],
                   "example_splits": exec_properties.example_splits,
                   "candidate_model": _model_ref(model),
                   "candidate_model_type": config.model_specs[0].model_type,
                   "baseline_model": _model_ref(baseline),
                   "baseline_comparable": baseline is not None and baseline_note is None,
                   "baseline_note": baseline_note,
                   "trivial_baseline": trivial.description if trivial else None,
                   "slices": scored, "omitted_slices": omitted, "skipped_examples": skipped,
                   "min_slice_size": config.options.min_slice_size, "fairness": fairness,
                   "attributions": self._attributions(files, model, label_key, task, classes,
                                                      config)}
        self._write_evaluation(output_dict["evaluation"][0], summary, result)
        self._write_blessing(output_dict["blessing"][0], result, model, baseline)

    def _score(self, files, model, baseline, label_key, task, classes, config,
               trivial) -> tuple[list[dict[str, Any]], dict[str, int]]:
        from gristmill.components.evaluator.beam_pipeline import run_evaluation
        from gristmill.components.evaluator.label_transform import label_from_transform

        positive = (positive_index(config.fairness, task, classes) if config.fairness
                    else None)
        tmp = tempfile.mkdtemp(prefix="evaluator-", dir=self.context.tmp_dir or None)
        slices_path, skipped_path = (os.path.join(tmp, "slices.json"),
                                     os.path.join(tmp, "skipped.json"))
        run_evaluation(files, candidate_uri=model.uri,
                       baseline_uri=baseline.uri if baseline is not None else None,
                       label_key=label_key, task=task, classes=classes,
                       specs=config.slicing_specs, options=config.options,
                       slices_path=slices_path, skipped_path=skipped_path,
                       beam_pipeline_args=self.context.beam_pipeline_args, trivial=trivial,
                       label_from_transform=label_from_transform(config),
                       sensitive=config.fairness.sensitive_features if config.fairness else (),
                       positive=positive, candidate_type=config.model_specs[0].model_type)
        slices, skipped = _read_json(slices_path), _read_json(skipped_path)
        shutil.rmtree(tmp, ignore_errors=True)
        return slices, skipped

    def _attributions(self, files, model, label_key, task, classes, config
                      ) -> dict[str, Any] | None:
        from gristmill.components.evaluator.label_transform import label_from_transform

        if config.attributions is None:
            return None
        if label_from_transform(config):
            log.warning("Evaluator: attributions skipped: the label comes from the transform")
            return {"skipped": "the label is computed by the model's transform "
                               "(preprocessing_function_names); permutation importance needs "
                               "a raw label column"}
        return permutation_importance(files, model.uri, label_key, task, classes,
                                      config.attributions, config.slicing_specs)

    def _write_evaluation(self, artifact: ModelEvaluation, summary: dict[str, Any],
                          result: ValidationResult) -> None:
        from gristmill.components.evaluator.report import write_evaluation_report

        gaps = slice_gap_report(summary["slices"])
        _dump(summary, artifact.uri, "metrics.json")
        _dump(result.to_dict(), artifact.uri, "validations.json")
        _dump(gaps, artifact.uri, "slice_gaps.json")
        report = write_evaluation_report(os.path.join(artifact.uri, "report.html"), summary,
                                         result.to_dict(), gaps)
        overall = summary["slices"][0]["candidate"]["metrics"]
        finite = {k: v for k, v in overall.items() if v is not None}
        artifact.set_custom_property("overall_metrics", finite)
        artifact.set_custom_property("num_slices", len(summary["slices"]))
        artifact.set_custom_property("num_omitted_slices", len(summary["omitted_slices"]))
        self.context.log_metrics({f"eval_{k}": v for k, v in finite.items()})
        self.context.log_metrics(logged_metrics(summary["slices"][0], summary["task"]))
        self.context.log_metrics(fairness_metrics(summary["fairness"]))
        self.context.log_metrics(attribution_metrics(summary["attributions"]))
        trivial = summary["slices"][0].get("trivial_baseline", {}).get("metrics", {})
        artifact.set_custom_property("trivial_baseline_metrics",
                                     {k: v for k, v in trivial.items() if v is not None})
        self.context.attach_report(report)
        for warning in result.warnings:
            log.warning("Evaluator: %s", warning)

    def _write_blessing(self, artifact: ModelBlessing, result: ValidationResult, model: Model,
                        baseline: Model | None) -> None:
        marker = "BLESSED" if result.blessed else "NOT_BLESSED"
        open(os.path.join(artifact.uri, marker), "w").close()
        payload = {**result.to_dict(), "current_model": _model_ref(model),
                   "baseline_model": _model_ref(baseline)}
        _dump(payload, artifact.uri, "blessing.json")
        artifact.set_custom_property("blessed", 1 if result.blessed else 0)
        artifact.set_custom_property("current_model", model.uri)
        artifact.set_custom_property("current_model_id", model.id)
        artifact.set_custom_property("baseline_model", baseline.uri if baseline else None)
        artifact.set_custom_property("baseline_model_id", baseline.id if baseline else None)
        artifact.set_custom_property("blessing_message", "; ".join(result.reasons))
        self.context.log_metrics({"blessed": 1.0 if result.blessed else 0.0})


def _nothing_scored(examples: Examples, splits: list[str], files: list[str],
                    skipped: dict[str, int]) -> DataError:
    """Why no slice got an example: empty splits said as such (with ExampleGen's reason)."""
    import pyarrow.parquet as pq

    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    if rows == 0:
        said = examples.get_custom_property("split_warnings") or []
        why = f" ExampleGen said: {' '.join(said)}" if said else ""
        return DataError(f"Evaluator: splits {splits} of Examples #{examples.id} have 0 rows, "
                         f"so there is nothing to evaluate.{why}",
                         fix="evaluate on a split that has rows (example_splits), or give "
                             "ExampleGen input whose hash split fills every split")
    return DataError(f"Evaluator: no labelled examples in splits {splits} ({rows} rows, "
                     f"skipped: {skipped}).", fix="check the eval split and the label column")


def split_files(examples: Examples, splits: list[str]) -> list[str]:
    """Parquet files of the given splits of an Examples artifact, sorted.

    Raises:
        ConfigError: A split is not in the artifact.
        DataError: A split directory holds no Parquet file.
    """
    known = examples.splits
    files: list[str] = []
    for split in splits:
        if known and split not in known:
            raise ConfigError(f"Evaluator: split {split!r} is not in the examples (splits: "
                              f"{known}).", fix=f"set example_splits to some of {known}")
        directory = examples.split_uri(split)
        found = sorted(os.path.join(directory, f) for f in os.listdir(directory)
                       if f.endswith(".parquet")) if os.path.isdir(directory) else []
        if not found:
            raise DataError(f"Evaluator: no .parquet files in {directory}.",
                            fix="point examples at an ExampleGen/Transform output")
        files.extend(found)
    return files


def _baseline_note(candidate: dict[str, Any], baseline: Model | None,
                   files: list[str]) -> str | None:
    """Why ``baseline`` is not compared (``None`` when it is, or when there is none)."""
    if baseline is None:
        return None
    import pyarrow.parquet as pq

    from gristmill.engine.serving import read_config

    note = baseline_problem(candidate, read_config(baseline.uri), baseline.id, baseline.uri,
                            pq.read_schema(files[0]).names)
    if note:
        log.warning("Evaluator: %s; change thresholds are skipped", note)
    return note


def _model_ref(model: Model | None) -> dict[str, Any] | None:
    return None if model is None else {"id": model.id, "uri": model.uri}


def _dump(value: Any, directory: str, name: str) -> None:
    with open(os.path.join(directory, name), "w") as f:
        json.dump(value, f, indent=1, sort_keys=False)


def _read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)
