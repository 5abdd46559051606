"""What the Evaluator checks before it scores: the eval data and the baseline model.

* The eval examples must hold every raw column the candidate reads. Transform's
  ``transformed_examples`` do not (they hold the transformed columns); scoring them would feed
  the model missing values on every row and report the score of one constant prediction, so
  they are refused with the fix (wire ExampleGen's raw examples).
* A baseline model is compared with the candidate only on the same task, label and label
  space: classes are matched by name, and a baseline that can predict a class the candidate
  does not know is not comparable. A baseline that is not comparable is still named in the
  evaluation, its change thresholds are skipped with the reason, and value thresholds decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow.parquet as pq

from gristmill.metadata.errors import ConfigError


def check_eval_columns(files: Sequence[str], model_uri: str, model_id: Any,
                       examples: Any) -> None:
    """Refuse eval files that lack a raw column the model reads.

    Raises:
        ConfigError: naming the missing columns, the file, and the fix.
    """
    from gristmill.engine.serving import read_config, required_columns

    required = required_columns(model_uri)
    for path in files:
        present = pq.read_schema(path).names
        missing = [c for c in required if c not in present]
        if not missing:
            continue
        transformed = _looks_transformed(read_config(model_uri), present, examples)
        what = ("these are Transform's transformed_examples, which hold transformed columns; "
                if transformed else "")
        raise ConfigError(
            f"Evaluator: the eval examples lack raw column(s) {missing} that model {model_id} "
            f"reads ({path} has {present}); {what}scoring them would feed the model missing "
            "values on every row.",
            fix="wire the raw examples: Evaluator(examples=example_gen.outputs['examples'], "
                "...); the model applies its own transform to raw records")


def check_slicing_columns(files: Sequence[str], specs: Sequence[Any]) -> None:
    """Refuse slicing specs whose feature keys are not columns of the eval files.

    Raises:
        ConfigError: naming the spec's missing columns, the file, a close match and the fix.
    """
    from gristmill.metadata.errors import did_you_mean

    wanted = [c for spec in specs for c in (spec.columns or [])]
    for path in files:
        present = pq.read_schema(path).names
        missing = sorted({c for c in wanted if c not in present})
        if missing:
            hint = "".join(did_you_mean(c, present) for c in missing)
            raise ConfigError(
                f"Evaluator: slicing column(s) {missing} are not in the eval examples ({path} "
                f"has {present}).{hint}",
                fix="slice on raw columns of the eval examples: "
                    "SlicingSpec(feature_keys=[...]) in the EvalConfig")


def _looks_transformed(config: dict[str, Any], present: Sequence[str], examples: Any) -> bool:
    if getattr(examples, "output_key", "") == "transformed_examples":
        return True
    transformed = config.get("transformed_features") or {}
    names = {*transformed.get("numeric", []), *transformed.get("categorical", [])}
    return bool(names & set(present)) and config.get("encoder", {}).get("kind") == "transform"


def baseline_problem(candidate: dict[str, Any], baseline: dict[str, Any], baseline_id: Any,
                     baseline_uri: str, columns: Sequence[str]) -> str | None:
    """Why the baseline model cannot be compared with the candidate; ``None`` if it can.

    Args:
        candidate: The candidate's ``bundle.json``.
        baseline: The baseline's ``bundle.json``.
        baseline_id: The baseline artifact's id, for the message.
        baseline_uri: The baseline bundle directory.
        columns: The eval data's columns.
    """
    from gristmill.engine.serving import required_columns

    name = f"baseline model {baseline_id}"
    if baseline["task"] != candidate["task"]:
        return f"{name} is a {baseline['task']} model, the candidate a {candidate['task']} one"
    if baseline.get("label_key") != candidate.get("label_key"):
        return (f"{name} predicts label {baseline.get('label_key')!r}, the candidate "
                f"{candidate.get('label_key')!r}")
    if candidate["task"] == "classification":
        known = {str(c) for c in candidate.get("classes") or []}
        unknown = [c for c in baseline.get("classes") or [] if str(c) not in known]
        if unknown:
            return (f"{name} predicts class(es) {unknown} that the candidate does not know "
                    f"(candidate classes {candidate.get('classes')}): another label space, "
                    "so its metrics are not comparable")
    missing = [c for c in required_columns(baseline_uri) if c not in columns]
    if missing:
        return f"{name} reads raw column(s) {missing} that the eval examples lack"
    return None


def check_candidate_type(model_type: str, bundle: dict[str, Any], model_uri: str) -> None:
    """Refuse ``ModelSpec(model_type="onnx"|"onnx_int8")`` when the model has no such export.

    Raises:
        ConfigError: naming the missing file, the export error recorded at training, and
            the fix.
    """
    if model_type == "bundle" or (model_type in bundle.get("exports", {})
                                  and bundle.get("raw_onnx")):
        return
    files = {"onnx": "model.onnx", "onnx_int8": "model_int8.onnx"}
    error = bundle.get("export_errors", {}).get(model_type, "not requested at training")
    raise ConfigError(
        f"Evaluator: ModelSpec(model_type={model_type!r}) evaluates {model_uri}/"
        f"{files[model_type]}, which the model does not have (export error: {error}).",
        fix=f"train with TrainerConfig(exports=[..., {model_type!r}]), or evaluate the "
            "Python bundle with model_type='bundle'")
