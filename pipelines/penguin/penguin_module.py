"""User code of the penguin pipeline: the preprocessing and the training function.

Transform calls :func:`preprocessing_fn` once with symbolic columns to learn the plan, runs
its analyzers over the train split (means, standard deviations, vocabularies) and applies the
fitted plan to every split. The fitted plan travels inside the model bundle, so serving and
the Evaluator apply exactly the same preprocessing to raw rows.

The Trainer calls :func:`run_fn` with ``FnArgs``; it trains a small MLP on the examples
encoded by the fitted transform (raw examples are transformed on load; already transformed
ones are used as they are) and writes a serving bundle. Hyperparameters come from
``fn_args.hyperparameters`` (the Trainer's ``config``, overridden by the Tuner's best values
when the Tuner runs), so the same function serves both paths.
"""

from __future__ import annotations

import gristmill.components.transform_ops as gt

LABEL_KEY = "species"
NUMERIC_FEATURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
CATEGORICAL_FEATURES = ["island", "sex"]

def preprocessing_fn(inputs):
    """Raw penguin columns -> model inputs.

    Numeric measurements are missing for a few birds: fill them with the (pre-fill) mean,
    then z-score, so a missing value lands at 0 (the average bird). Island and sex become
    vocabulary ids; a missing or unseen value gets the out-of-vocabulary id. The label
    passes through unchanged (it is absent at serving time, and so is this output).
    """
    outputs = {}
    for name in NUMERIC_FEATURES:
        column = inputs[name]
        outputs[f"{name}_z"] = gt.scale_to_z_score(gt.fill_missing(column, gt.mean(column)))
    for name in CATEGORICAL_FEATURES:
        outputs[f"{name}_id"] = gt.compute_and_apply_vocabulary(inputs[name])
    outputs[LABEL_KEY] = inputs[LABEL_KEY]
    return outputs


def run_fn(fn_args) -> dict[str, float]:
    """Train an MLP on the examples, encoded by the transform graph; save the serving bundle.

    Args:
        fn_args: The Trainer's ``FnArgs``: train/eval files, the transform graph, output
            directories, ``hyperparameters`` (the Trainer's ``TrainerConfig`` with the
            Tuner's best values on top) and a ``log_metrics`` callback for curves.

    Returns:
        The final metrics (best epoch), also logged on the Trainer's MLflow run.
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
        on_epoch_end=lambda epoch, metrics: fn_args.log_metrics(metrics, step=epoch))
    fit = result.fit
    summary = {"best_epoch": fit.best_epoch, "stopped_reason": fit.stopped_reason,
               "steps": fit.steps, "skipped_rows": result.prepared.skipped_rows}
    fn_args.save_bundle(result.model, result.prepared, exports=tuple(hp.exports),
                        extra={"metrics": fit.final_metrics, "training": summary,
                               "hyperparameters": hp.model_dump()})
    write_model_run(fn_args.model_run_dir, fit.history, fit.final_metrics, summary)
    return fit.final_metrics
