"""``tfx.components``: Gristmill's components under TFX's names and constructor keywords.

Each name is a function that translates TFX-only keywords (``transformed_examples``,
``examples_test`` ...) and returns the native Gristmill component, so a facade pipeline and a
native one share identity and cache. Keywords with no Gristmill meaning are refused with the
equivalent named; anything else reaches the component, which checks it as usual.
"""

from __future__ import annotations

from typing import Any

from gristmill.metadata.errors import ConfigError
from gristmill.orchestrator.tfx.namespace import refusal

#: TFX component name -> Gristmill component of the same name in gristmill.components.
_SAME = ["CsvExampleGen", "StatisticsGen", "SchemaGen", "ImportSchemaGen", "ExampleValidator",
         "DistributionValidator", "Transform", "Evaluator", "InfraValidator", "Pusher"]

#: (component, TFX keyword) -> Gristmill keyword.
_RENAMED = {
    ("Trainer", "transformed_examples"): "examples",
    ("ExampleDiff", "examples_test"): "examples",
    ("ExampleDiff", "examples_base"): "baseline_examples",
}

_TUNER_FIX = ("use Gristmill's built-in Tuner: Tuner(examples=..., search_space={'learning_rate': "
              "Dimension(low=1e-4, high=1e-1, log=True), 'hidden_units': [[32], [64, 32]]}, "
              "config=TrainerConfig(label_key=...)) or trial_fn=<fn(fn_args) -> metrics> "
              "(see docs/tfx_migration.md, 'Tuner')")

#: (component, TFX keyword) -> why it is refused and what to write instead.
_REFUSED_KEYWORDS = {
    ("CsvExampleGen", "input"): "use input_base=<directory> (external_input() is gone in TFX "
                                "1.x too)",
    ("Trainer", "custom_executor_spec"): "drop it: Gristmill's Trainer always calls run_fn "
                                         "(TFX's GenericExecutor)",
    ("Trainer", "trainer_fn"): "Estimator trainer_fn is not supported; write a PyTorch "
                               "run_fn(fn_args) or use the built-in model (docs/tfx_migration.md)",
    ("Tuner", "module_file"): "tuner_fn/KerasTuner has no PyTorch meaning; " + _TUNER_FIX,
    ("Tuner", "tuner_fn"): "tuner_fn/KerasTuner has no PyTorch meaning; " + _TUNER_FIX,
    ("Tuner", "base_model"): "drop base_model; the built-in Tuner trains every trial afresh",
    ("Evaluator", "module_file"): "custom TFMA extractors are not supported; compute extra "
                                  "columns in preprocessing_fn and slice on them",
    ("Evaluator", "module_path"): "custom TFMA extractors are not supported; compute extra "
                                  "columns in preprocessing_fn and slice on them",
    ("Evaluator", "fairness_indicator_thresholds"): "read slice_gaps.json of the evaluation "
                                                    "(worst slices against overall)",
    ("Evaluator", "feature_slicing_spec"): "use eval_config=tfma.EvalConfig(slicing_specs=...)",
    ("Pusher", "custom_config"): "cloud pushers are not supported; use push_destination= or "
                                 "registered_model_name= (MLflow registry)",
    ("Transform", "force_tf_compat_v1"): "drop it (there is no TensorFlow graph to run in "
                                         "compat mode)",
}


def _build(name: str, kwargs: dict[str, Any]) -> Any:
    import gristmill.components as gc

    translated: dict[str, Any] = {}
    for key, value in kwargs.items():
        if value is None:
            continue  # TFX's None means "not given": the Gristmill default applies
        if (name, key) in _REFUSED_KEYWORDS:
            if name == "Transform" and key == "force_tf_compat_v1" and not value:
                continue  # the TFX default, which means nothing here either way
            raise ConfigError(f"tfx.components.{name}({key}=...): not supported by Gristmill.",
                              fix=_REFUSED_KEYWORDS[(name, key)])
        translated[_RENAMED.get((name, key), key)] = value
    return getattr(gc, name)(**translated)


def _component(name: str):
    def build(**kwargs: Any) -> Any:
        return _build(name, kwargs)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (f"TFX's ``{name}``: returns ``gristmill.components.{name}`` "
                     "(TFX keywords translated; see docs/tfx_migration.md).")
    return build


for _name in _SAME:
    globals()[_name] = _component(_name)


def Trainer(**kwargs: Any) -> Any:  # noqa: N802 - TFX's name
    """TFX's ``Trainer``; ``transformed_examples=`` is read as ``examples=``."""
    return _build("Trainer", kwargs)


def ExampleDiff(**kwargs: Any) -> Any:  # noqa: N802 - TFX's name
    """TFX's ``ExampleDiff(examples_test=, examples_base=)``: Gristmill's ``examples`` /
    ``baseline_examples``."""
    return _build("ExampleDiff", kwargs)


def Tuner(**kwargs: Any) -> Any:  # noqa: N802 - TFX's name
    """TFX's ``Tuner``; ``tune_args=TuneArgs(num_parallel_trials=n)`` is accepted, a
    ``tuner_fn`` module is refused with the built-in Tuner's usage."""
    tune_args = kwargs.pop("tune_args", None)
    if tune_args is not None:
        kwargs["num_parallel_trials"] = int(tune_args.num_parallel_trials)
    if "search_space" not in kwargs and "module_file" not in kwargs \
            and "tuner_fn" not in kwargs:
        raise ConfigError("tfx.components.Tuner: needs a search space.", fix=_TUNER_FIX)
    return _build("Tuner", kwargs)


def BulkInferrer(**kwargs: Any) -> Any:  # noqa: N802 - TFX's name
    """TFX's ``BulkInferrer``; ``model_spec`` and ``output_example_spec`` are accepted when
    they ask for what Gristmill does (the one serving signature; predictions appended to the
    examples as ``output_examples``)."""
    model_spec = kwargs.pop("model_spec", None)
    if model_spec is not None:
        model_spec.check_single_signature()
    spec = kwargs.pop("output_example_spec", None)
    if spec is not None:
        spec.check_default_columns()
    return _build("BulkInferrer", kwargs)


def ImportExampleGen(**kwargs: Any) -> Any:  # noqa: N802 - TFX's name
    """TFX's ``ImportExampleGen`` reads TFRecords of tf.Example, which Gristmill does not."""
    if "input_base" in kwargs:
        raise ConfigError("tfx.components.ImportExampleGen(input_base=...): Gristmill does not "
                          "read TFRecord/tf.Example files.",
                          fix="convert them to Parquet and use tfx.components.ParquetExampleGen"
                              "(input_base=...), or pass an Arrow table as "
                              "ImportExampleGen(table=...)")
    return _build("ImportExampleGen", kwargs)


def ParquetExampleGen(**kwargs: Any) -> Any:  # noqa: N802 - TFX's name
    """Gristmill's ``ParquetExampleGen`` (TFX's custom Parquet executor, built in)."""
    return _build("ParquetExampleGen", kwargs)


def __getattr__(name: str) -> Any:
    lazy_names = {"FnArgs": ("gristmill.components.framework.fn_args", "FnArgs"),
                  "TunerFnResult": ("gristmill.orchestrator.tfx.tuner", "TunerFnResult")}
    if name in lazy_names:
        import importlib

        module, attr = lazy_names[name]
        return getattr(importlib.import_module(module), attr)
    raise refusal("tfx.components", name, _REFUSED, NAMES)


_REFUSED = {
    "ResolverNode": "use tfx.dsl.Resolver(strategy_class=tfx.dsl.experimental."
                    "LatestBlessedModelStrategy, ...)",
    "ImporterNode": "use tfx.dsl.Importer(source_uri=..., artifact_type=...)",
    "FileBasedExampleGen": "use CsvExampleGen or ParquetExampleGen (or gristmill.components."
                           "BeamSourceExampleGen for any Beam source)",
    "BigQueryExampleGen": "read the table with gristmill.components.BeamSourceExampleGen",
    "Pusher_Vertex": "use Pusher(registered_model_name=...) (MLflow registry)",
}

NAMES = [*_SAME, "Trainer", "ExampleDiff", "Tuner", "BulkInferrer", "ImportExampleGen",
           "ParquetExampleGen", "FnArgs", "TunerFnResult"]
