"""Trainer: train a PyTorch model and write a serving bundle plus training curves.

``Trainer(examples=..., config=TrainerConfig(label_key="species"))`` trains a built-in model
with no code; ``run_fn=`` (a callable or ``"package.module.fn"``) or ``module_file=`` (a
``.py`` file defining ``run_fn``) runs your own ``run_fn(fn_args: FnArgs)``, which must write
a serving bundle into ``fn_args.serving_model_dir`` (``fn_args.save_bundle`` does it).

Outputs: ``model`` (serving bundle, with ``mlflow_model/``) and ``model_run`` (history,
curves, checkpoints). torch is imported only when the executor runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from typing import Any

from gristmill.components.framework.executor import BaseExecutor
from gristmill.components.framework.fn_args import (
    HYPERPARAMETERS_FILE,
    FnArgs,
    first_artifact,
    resolve_split_files,
)
from gristmill.components.trainer.config import TrainerParameters
from gristmill.metadata.errors import ConfigError, DataError, ExecutorError
from gristmill.metadata.types import Artifact


class TrainerExecutor(BaseExecutor):
    """Builds ``FnArgs``, runs the ``run_fn``, checks the bundle, logs the MLflow model."""

    def Do(self, input_dict: dict[str, list[Artifact]], output_dict: dict[str, list[Artifact]],
           exec_properties: TrainerParameters) -> None:
        """Train; see :class:`Trainer`."""
        model, model_run = output_dict["model"][0], output_dict["model_run"][0]
        fn_args = self.build_fn_args(input_dict, model.uri, model_run.uri, exec_properties)
        run_fn = resolve_run_fn(exec_properties)
        run_fn(fn_args)
        self.finish(fn_args, model, model_run)

    def build_fn_args(self, input_dict: dict[str, list[Artifact]], model_dir: str, run_dir: str,
                      params: TrainerParameters) -> FnArgs:
        """Resolve splits, paths and merged hyperparameters into an ``FnArgs``."""
        examples = input_dict["examples"][0]
        hparams = {**params.config.model_dump(), **read_hyperparameters(input_dict)}
        schema = first_artifact(input_dict, "schema")
        transform = first_artifact(input_dict, "transform_graph")
        base = first_artifact(input_dict, "base_model")
        transformed = hparams.get("examples_are_transformed")
        if transformed is None:
            transformed = bool(transform) and (examples.output_key == "transformed_examples" or
                                               bool(examples.get_custom_property("transformed")))
        return FnArgs(
            train_files=resolve_split_files(examples, params.train_args.splits, "train_args"),
            eval_files=resolve_split_files(examples, params.eval_args.splits, "eval_args",
                                           required=False),
            serving_model_dir=model_dir, model_run_dir=run_dir,
            train_steps=params.train_args.num_steps, eval_steps=params.eval_args.num_steps,
            schema_path=os.path.join(schema.uri, "schema.yaml") if schema else None,
            transform_graph_path=transform.uri if transform else None,
            base_model=base.uri if base else None, hyperparameters=hparams,
            custom_config=dict(params.custom_config), label_key=hparams.get("label_key"),
            examples_are_transformed=transformed, working_dir=self.context.tmp_dir,
            log_metrics=self.context.log_metrics)

    def finish(self, fn_args: FnArgs, model: Artifact, model_run: Artifact) -> None:
        """Check the bundle, save and log the MLflow pyfunc, record final metrics."""
        from gristmill.components.trainer.model_pyfunc import input_example, save_pyfunc
        from gristmill.components.trainer.run import read_metrics
        from gristmill.engine.serving import BUNDLE_FILE, read_config

        if not os.path.exists(os.path.join(fn_args.serving_model_dir, BUNDLE_FILE)):
            raise ExecutorError(
                f"Trainer: run_fn wrote no serving bundle: {fn_args.serving_model_dir}/"
                f"{BUNDLE_FILE} is missing.", uri=fn_args.serving_model_dir,
                fix="end your run_fn with fn_args.save_bundle(model, prepared)")
        config = read_config(fn_args.serving_model_dir)
        # Serving takes raw records, so the example is raw even when training read
        # transformed examples (then it comes from the transform graph's raw sample).
        example = input_example(fn_args.train_files, config["raw_features"],
                                fn_args.transform_graph_path)
        from gristmill.components.trainer.edge import write_trainer_edge_report

        edge = write_trainer_edge_report(fn_args, config)
        if edge and edge.get("metric_delta") is not None:
            self.context.log_metrics({f"int8_{edge['metric']}_delta": edge["metric_delta"],
                                      "int8_size_ratio": edge["size_ratio"]})
        mlflow_dir = save_pyfunc(fn_args.serving_model_dir, example, self.context.tmp_dir)
        self.context.log_model(mlflow_dir)
        final = read_metrics(fn_args.model_run_dir) or dict(config.get("metrics") or {})
        if final:
            self.context.log_metrics(final_metric_names(final))
        model.set_custom_property("task", config["task"])
        model.set_custom_property("label_key", config["label_key"])
        model.set_custom_property("exports", sorted(config.get("exports", {})))
        model_run.set_custom_property("final_metrics", final)


def final_metric_names(final: dict[str, float]) -> dict[str, float]:
    """The model's final (best-epoch) metrics as ``final_<name>``, without a step.

    The curves hold ``val_loss`` etc. per epoch (steps 1..N); logging the final values under
    the same names without a step put them at step 0 of the same curve, so a falling loss
    seemed to rise first. ``final_epoch`` is the epoch those values come from.
    """
    return {f"final_{k}": float(v) for k, v in final.items() if isinstance(v, (int, float))}


def read_hyperparameters(input_dict: dict[str, list[Artifact]]) -> dict[str, Any]:
    """``best_hyperparameters.json`` of the ``hyperparameters`` input, or ``{}``."""
    import json

    artifact = first_artifact(input_dict, "hyperparameters")
    if artifact is None:
        return {}
    path = os.path.join(artifact.uri, HYPERPARAMETERS_FILE)
    if not os.path.exists(path):
        raise DataError(f"Trainer: {path} is missing from the HyperParameters input.",
                        uri=artifact.uri, fix="connect tuner.outputs['best_hyperparameters']")
    with open(path, encoding="utf-8") as f:
        return dict(json.load(f))


def resolve_run_fn(params: TrainerParameters) -> Callable[[FnArgs], Any]:
    """The user's ``run_fn`` (callable, dotted path, or name in ``module_file``) or the default.

    Raises:
        ConfigError: The module or function cannot be found.
    """
    fn = params.run_fn
    if callable(fn):
        return fn
    if params.module_file:
        return _from_file(params.module_file, fn or "run_fn")
    if fn:
        module_name, _, attr = fn.rpartition(".")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError) as e:
            raise ConfigError(f"Trainer(run_fn={fn!r}): cannot import it: {e}.",
                              fix="pass 'package.module.function' importable here") from e
    from gristmill.components.trainer.run import default_run_fn

    return default_run_fn


def _from_file(path: str, name: str) -> Callable[[FnArgs], Any]:
    if not os.path.exists(path):
        raise ConfigError(f"Trainer(module_file={path!r}): file not found.",
                          fix="pass the path of a .py file that defines run_fn")
    spec = importlib.util.spec_from_file_location(f"gristmill_user_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    if not hasattr(module, name):
        raise ConfigError(f"Trainer(module_file={path!r}): defines no function {name!r}.",
                          fix=f"define def {name}(fn_args): ... in that file")
    return getattr(module, name)
