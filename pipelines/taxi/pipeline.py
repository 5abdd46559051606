"""The taxi pipeline: the penguin chain on synthetic Chicago-taxi-like data, for scale.

The data come from :mod:`taxi_data` (``rows`` is a parameter; the CSV is generated once per
``(rows, seed)`` under ``$GRISTMILL_HOME/data/taxi``, so re-runs stay cached). The label is
``big_tipper``: tip > 20% of the fare.

    gristmill run pipelines/taxi/pipeline.py --param rows=1000000
    gristmill run pipelines/taxi/pipeline.py --param rows=10000000 \\
        --beam-arg=--runner=PortableRunner --beam-arg=--job_endpoint=localhost:8099
"""

from __future__ import annotations

import sys
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
sys.path.insert(0, str(HERE))
import taxi_data  # noqa: E402 - the generator sits next to this file

PIPELINE_NAME = "taxi"
LABEL_KEY = taxi_data.LABEL_KEY


def prepare_data(data_root: str | None, rows: int, seed: int) -> tuple[Path, Path]:
    """(labelled dir, unlabelled dir) for ``rows`` rows, generated on first use."""
    base = Path(data_root) if data_root else gristmill_home() / "data" / "taxi"
    folder = base / f"rows-{rows}-seed-{seed}"
    taxi_data.write_dataset(folder / "labelled", rows, seed)
    taxi_data.write_dataset(folder / "unlabelled", max(100, rows // 100), seed + 1,
                            labelled=False)
    return folder / "labelled", folder / "unlabelled"


def eval_config(accuracy_threshold: float) -> EvalConfig:
    """Accuracy and AUC overall and per payment type; accuracy gates the blessing."""
    accuracy = MetricConfig(class_name="BinaryAccuracy", threshold=MetricThreshold(
        value_threshold=GenericValueThreshold(lower_bound=accuracy_threshold),
        change_threshold=GenericChangeThreshold(
            direction=MetricDirection.HIGHER_IS_BETTER, absolute=-0.01)))
    return EvalConfig(model_specs=[ModelSpec(label_key=LABEL_KEY)],
                      slicing_specs=[SlicingSpec(), SlicingSpec(feature_keys=["payment_type"])],
                      metrics_specs=[MetricsSpec(metrics=[accuracy, MetricConfig(
                          class_name="AUC")])])


def baseline_resolver(trainer: Trainer) -> Resolver:
    """The newest model an Evaluator blessed, other than the one this run trains."""
    return Resolver(strategy_class=LatestBlessedModelStrategy, model=Channel(type=Model),
                    model_blessing=Channel(type=ModelBlessing),
                    candidate=trainer.outputs["model"]).with_id("latest_blessed_model_resolver")


def bulk_inference(input_base: str, trainer: Trainer, evaluator: Evaluator
                   ) -> tuple[CsvExampleGen, BulkInferrer]:
    """Ingest the unlabelled trips as one split and predict them with the blessed model."""
    unlabelled_gen = CsvExampleGen(
        input_base=input_base, output_config=Output(split_config=SplitConfig(
            splits=[SplitSpec(name="unlabelled", hash_buckets=1)]))).with_id(
        "UnlabelledExampleGen")
    bulk_inferrer = BulkInferrer(examples=unlabelled_gen.outputs["examples"],
                                 model=trainer.outputs["model"],
                                 model_blessing=evaluator.outputs["blessing"],
                                 data_spec=DataSpec(example_splits=["unlabelled"]))
    return unlabelled_gen, bulk_inferrer


def create_pipeline(rows: int = 20_000, seed: int = 0, data_root: str | None = None,
                    module_file: str = str(HERE / "taxi_module.py"),
                    serving_model_dir: str | None = None, epochs: int = 5,
                    batch_size: int = 1024, accuracy_threshold: float = 0.7,
                    root: str | None = None, metadata_url: str | None = None,
                    tracking_uri: str | None = None) -> Pipeline:
    """Build the taxi pipeline.

    Args:
        rows: Labelled rows to generate; the unlabelled BulkInferrer sample is 1% of that.
        seed: Generator seed.
        data_root: Where generated data is kept (default ``$GRISTMILL_HOME/data/taxi``).
        module_file: Defines ``preprocessing_fn`` and ``run_fn``.
        serving_model_dir: Pusher's destination (default
            ``$GRISTMILL_HOME/serving_model/taxi``).
        epochs, batch_size: Training.
        accuracy_threshold: Minimum binary accuracy for a blessing.
        root, metadata_url, tracking_uri: See :class:`Pipeline`.
    """
    labelled, unlabelled = prepare_data(data_root, int(rows), int(seed))
    serving_model_dir = serving_model_dir or str(gristmill_home() / "serving_model" /
                                                 PIPELINE_NAME)
    example_gen = CsvExampleGen(input_base=str(labelled))
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"])
    example_validator = ExampleValidator(statistics=statistics_gen.outputs["statistics"],
                                         schema=schema_gen.outputs["schema"])
    transform = Transform(examples=example_gen.outputs["examples"],
                          schema=schema_gen.outputs["schema"], module_file=module_file)
    # As in the penguin pipeline, the Trainer reads the examples Transform encoded on Beam.
    trainer = Trainer(examples=transform.outputs["transformed_examples"],
                      transform_graph=transform.outputs["transform_graph"],
                      schema=schema_gen.outputs["schema"], module_file=module_file,
                      config=TrainerConfig(label_key=LABEL_KEY, model="wide_deep",
                                           hidden_units=[64, 32], epochs=int(epochs),
                                           batch_size=int(batch_size), learning_rate=3e-3,
                                           early_stopping_patience=3, exports=[]))
    model_resolver = baseline_resolver(trainer)
    evaluator = Evaluator(examples=example_gen.outputs["examples"],
                          model=trainer.outputs["model"],
                          baseline_model=model_resolver.outputs["model"],
                          eval_config=eval_config(float(accuracy_threshold)))
    infra_validator = InfraValidator(model=trainer.outputs["model"],
                                     examples=example_gen.outputs["examples"])
    pusher = Pusher(model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
                    infra_blessing=infra_validator.outputs["blessing"],
                    push_destination=PushDestination(
                        filesystem=Filesystem(base_directory=serving_model_dir)))
    unlabelled_gen, bulk_inferrer = bulk_inference(str(unlabelled), trainer, evaluator)
    return Pipeline(PIPELINE_NAME, [example_gen, statistics_gen, schema_gen, example_validator,
                                    transform, trainer, model_resolver, evaluator,
                                    infra_validator, pusher, unlabelled_gen, bulk_inferrer],
                    root=root, metadata_url=metadata_url, tracking_uri=tracking_uri)


if __name__ == "__main__":
    import json

    from gristmill.orchestrator import LocalDagRunner

    result = LocalDagRunner().run(create_pipeline())
    print(json.dumps(result.to_dict(), indent=2))
