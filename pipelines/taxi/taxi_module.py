"""User code of the taxi pipeline: preprocessing and training for "is this a big tipper?".

Follows TFX's taxi example: dense floats are filled and z-scored, coordinates are bucketized
by quantiles, hour/day/area and the string columns become vocabulary ids. The tip itself is
never a feature (it defines the label). ``run_fn`` trains a wide & deep model.
"""

from __future__ import annotations

import gristmill.components.transform_ops as gt

LABEL_KEY = "big_tipper"
DENSE_FLOAT_FEATURES = ["trip_miles", "fare", "trip_seconds"]
BUCKET_FEATURES = ["pickup_latitude", "pickup_longitude"]
NUM_BUCKETS = 10
CATEGORICAL_INT_FEATURES = ["trip_start_hour", "trip_start_day", "pickup_community_area"]
VOCAB_FEATURES = ["payment_type", "company"]
VOCAB_SIZE = 50


def preprocessing_fn(inputs):
    """Raw taxi columns -> model inputs (missing values handled per column kind)."""
    outputs = {}
    for name in DENSE_FLOAT_FEATURES:
        column = inputs[name]
        outputs[f"{name}_z"] = gt.scale_to_z_score(gt.fill_missing(column, gt.mean(column)))
    for name in BUCKET_FEATURES:  # missing coordinates get their own bucket
        outputs[f"{name}_bucket"] = gt.bucketize(inputs[name], NUM_BUCKETS)
    for name in CATEGORICAL_INT_FEATURES:
        outputs[f"{name}_id"] = gt.compute_and_apply_vocabulary(inputs[name])
    for name in VOCAB_FEATURES:
        outputs[f"{name}_id"] = gt.compute_and_apply_vocabulary(inputs[name], top_k=VOCAB_SIZE)
    outputs[LABEL_KEY] = inputs[LABEL_KEY]
    return outputs


def run_fn(fn_args) -> dict[str, float]:
    """Train the configured model on the examples, encoded by the transform graph.

    Args:
        fn_args: The Trainer's ``FnArgs``; ``hyperparameters`` is a ``TrainerConfig``.

    Returns:
        The final (best-epoch) metrics.
    """
    from gristmill.components import TrainerConfig, write_model_run
    from gristmill.engine.tabular import train_tabular

    hp = TrainerConfig.model_validate(fn_args.hyperparameters)
    result = train_tabular(
        fn_args.train_files, fn_args.eval_files or None, LABEL_KEY, model=hp.model,
        model_kwargs=hp.model_kwargs(),
        config=hp.train_config(None, fn_args.train_steps, fn_args.eval_steps),
        task="classification", transform=fn_args.load_transform(),
        inputs_are_transformed=fn_args.examples_are_transformed, device=hp.device,
        residency=hp.data_residency,
        on_epoch_end=lambda epoch, metrics: fn_args.log_metrics(metrics, step=epoch))
    fit = result.fit
    summary = {"best_epoch": fit.best_epoch, "stopped_reason": fit.stopped_reason,
               "steps": fit.steps, "skipped_rows": result.prepared.skipped_rows}
    fn_args.save_bundle(result.model, result.prepared, exports=tuple(hp.exports),
                        extra={"metrics": fit.final_metrics, "training": summary})
    write_model_run(fn_args.model_run_dir, fit.history, fit.final_metrics, summary)
    return fit.final_metrics
