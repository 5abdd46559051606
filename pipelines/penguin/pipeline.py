"""The penguin pipeline: TFX's flagship example, end to end, on the raw Palmer penguins data.

CsvExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform -> [Tuner] ->
Trainer -> Resolver (latest blessed model) -> Evaluator -> InfraValidator -> Pusher, plus a
BulkInferrer that labels a held-back sample of birds without a species.

Run it with any of::

    python pipelines/penguin/pipeline.py
    gristmill run pipelines/penguin/pipeline.py [--param enable_tuning=true]
    make run

then browse it with ``gristmill ui``. A second run is fully cached.
"""

from __future__ import annotations

import os
from pathlib import Path

from gristmill.components import (
    BulkInferrer,
    CsvExampleGen,
    DataSpec,
    EvalConfig,
    Evaluator,
    ExampleValidator,
    Filesystem,
    GenericChangeThreshold,
    GenericValueThreshold,
    InfraValidator,
    MetricConfig,
    MetricDirection,
    MetricsSpec,
    MetricThreshold,
    ModelSpec,
    Output,
    PushDestination,
    Pusher,
    SchemaGen,
    SlicingSpec,
    SplitConfig,
    SplitSpec,
    StatisticsGen,
    Trainer,
    TrainerConfig,
    Transform,
)
from gristmill.metadata.settings import gristmill_home
from gristmill.metadata.standard_artifacts import Model, ModelBlessing
from gristmill.orchestrator import Channel, LatestBlessedModelStrategy, Pipeline, Resolver

HERE = Path(__file__).resolve().parent
PIPELINE_NAME = "penguin"
LABEL_KEY = "species"


def eval_config(accuracy_threshold: float) -> EvalConfig:
    """Accuracy must reach ``accuracy_threshold`` and must not drop below the baseline's."""
    accuracy = MetricConfig(class_name="Accuracy", threshold=MetricThreshold(
        value_threshold=GenericValueThreshold(lower_bound=accuracy_threshold),
        change_threshold=GenericChangeThreshold(
            direction=MetricDirection.HIGHER_IS_BETTER, absolute=-1e-10)))
    return EvalConfig(model_specs=[ModelSpec(label_key=LABEL_KEY)],
                      slicing_specs=[SlicingSpec(), SlicingSpec(feature_keys=["island"])],
                      metrics_specs=[MetricsSpec(metrics=[accuracy])])


def trainer_config(epochs: int) -> TrainerConfig:
    """Hyperparameters of ``run_fn`` (the Tuner's best values override them).

    CPU on purpose: for 214 training rows a GPU's start-up costs more than the training.
    ``exports=["onnx"]``: the model also ships as ``model.onnx``, one ONNX graph from the raw
    columns to the species (the fitted transform inside), for serving without Python.
    """
    return TrainerConfig(label_key=LABEL_KEY, hidden_units=[32, 16], learning_rate=0.01,
                         epochs=epochs, batch_size=32, early_stopping_patience=15,
                         weight_decay=1e-4, exports=["onnx"], distributed="off", device="cpu")


def create_pipeline(data_root: str = str(HERE / "data"),
                    module_file: str = str(HERE / "penguin_module.py"),
                    serving_model_dir: str | None = None, epochs: int = 40,
                    enable_tuning: bool = False, num_trials: int = 6,
                    accuracy_threshold: float = 0.9,
                    root: str | None = None, metadata_url: str | None = None,
                    tracking_uri: str | None = None, enable_cache: bool = True) -> Pipeline:
    """Build the penguin pipeline.

    Args:
        data_root: Folder with ``labelled/`` (training data) and ``unlabelled/`` (the
            BulkInferrer sample).
        module_file: Defines ``preprocessing_fn`` and ``run_fn``.
        serving_model_dir: Where Pusher writes versions (default
            ``$GRISTMILL_HOME/serving_model/penguin``).
        epochs: Training epochs (early stopping may end sooner).
        enable_tuning: Add a Tuner whose best hyperparameters feed the Trainer.
        num_trials: Tuner trials when tuning is on.
        accuracy_threshold: The Evaluator blesses a model only at or above this accuracy.
        root, metadata_url, tracking_uri, enable_cache: See :class:`Pipeline`.
    """
    serving_model_dir = serving_model_dir or str(gristmill_home() / "serving_model" /
                                                 PIPELINE_NAME)
    example_gen = CsvExampleGen(input_base=os.path.join(data_root, "labelled"))
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"])
    example_validator = ExampleValidator(statistics=statistics_gen.outputs["statistics"],
                                         schema=schema_gen.outputs["schema"])
    transform = Transform(examples=example_gen.outputs["examples"],
                          schema=schema_gen.outputs["schema"], module_file=module_file)
    tuner = _tuner(transform, int(epochs), int(num_trials)) if enable_tuning else None
    # The TFX wiring: the Trainer reads the examples Transform already encoded on Beam (once,
    # not per epoch) and ships the transform graph inside the model, so serving applies the
    # same fitted transform to raw records.
    trainer = Trainer(
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"], module_file=module_file,
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        config=trainer_config(int(epochs)))
    model_resolver = baseline_resolver(trainer)
    evaluator = Evaluator(examples=example_gen.outputs["examples"],
                          model=trainer.outputs["model"],
                          baseline_model=model_resolver.outputs["model"],
                          eval_config=eval_config(float(accuracy_threshold)))
    infra_validator = InfraValidator(model=trainer.outputs["model"],
                                     examples=example_gen.outputs["examples"])
    pusher = Pusher(model=trainer.outputs["model"],
                    model_blessing=evaluator.outputs["blessing"],
                    infra_blessing=infra_validator.outputs["blessing"],
                    # the model card's data, schema and metrics sections
                    evaluation=evaluator.outputs["evaluation"],
                    statistics=statistics_gen.outputs["statistics"],
                    schema=schema_gen.outputs["schema"],
                    examples=example_gen.outputs["examples"],
                    push_destination=PushDestination(
                        filesystem=Filesystem(base_directory=serving_model_dir)))
    unlabelled_gen, bulk_inferrer = bulk_inference(os.path.join(data_root, "unlabelled"),
                                                   trainer, evaluator)
    components = [example_gen, statistics_gen, schema_gen, example_validator, transform,
                  *([tuner] if tuner else []), trainer, model_resolver, evaluator,
                  infra_validator, pusher, unlabelled_gen, bulk_inferrer]
    return Pipeline(PIPELINE_NAME, components, root=root, metadata_url=metadata_url,
                    tracking_uri=tracking_uri, enable_cache=enable_cache)


def baseline_resolver(trainer: Trainer) -> Resolver:
    """The newest model an Evaluator blessed, other than the one this run trains."""
    return Resolver(strategy_class=LatestBlessedModelStrategy, model=Channel(type=Model),
                    model_blessing=Channel(type=ModelBlessing),
                    candidate=trainer.outputs["model"]).with_id("latest_blessed_model_resolver")


def bulk_inference(input_base: str, trainer: Trainer, evaluator: Evaluator
                   ) -> tuple[CsvExampleGen, BulkInferrer]:
    """Ingest the unlabelled rows as one split and predict them with the blessed model."""
    unlabelled_gen = CsvExampleGen(
        input_base=input_base, output_config=Output(split_config=SplitConfig(
            splits=[SplitSpec(name="unlabelled", hash_buckets=1)]))).with_id(
        "UnlabelledExampleGen")
    bulk_inferrer = BulkInferrer(examples=unlabelled_gen.outputs["examples"],
                                 model=trainer.outputs["model"],
                                 model_blessing=evaluator.outputs["blessing"],
                                 data_spec=DataSpec(example_splits=["unlabelled"]))
    return unlabelled_gen, bulk_inferrer


def _tuner(transform, epochs: int, num_trials: int):
    """A Tuner (TPE) over layer sizes and learning rate; its best values feed the Trainer."""
    from gristmill.components import Dimension, Tuner

    return Tuner(examples=transform.outputs["transformed_examples"],
                 transform_graph=transform.outputs["transform_graph"],
                 search_space={"hidden_units": [[16], [32, 16], [64, 32]],
                               "learning_rate": Dimension(type="float", low=1e-3, high=3e-2,
                                                          log=True)},
                 num_trials=num_trials, objective="val_loss", config=trainer_config(epochs))


if __name__ == "__main__":
    import json

    from gristmill.orchestrator import LocalDagRunner

    result = LocalDagRunner().run(create_pipeline())
    print(json.dumps(result.to_dict(), indent=2))
