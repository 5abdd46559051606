"""Continuous training: each run ingests the newest span, retrains only when needed, pushes
only a better model, and checks what serving saw against what training saw.

ParquetExampleGen (newest ``span-{SPAN}``) -> StatisticsGen -> SchemaGen;
Resolver (previous span's statistics) -> DistributionValidator (drift);
Resolver (latest blessed model) -> RetrainDecision (no model yet | drift | schedule) ->
Cond(retrain == 1): Trainer (warm start: ``base_model``) -> Evaluator (baseline: the latest
blessed model; the candidate must beat it) -> Pusher (with its model card).
With ``serving_log_root`` (sampled requests logged by serving as Parquet spans,
:mod:`gristmill.engine.request_log`): ServingLogGen -> ServingStatisticsGen ->
SkewValidator (serving requests against this span's training data).

Run one span at a time (each run picks the newest span under ``data_root``)::

    python pipelines/continuous/pipeline.py --data-root /data/taxi-days

See ``pipelines/continuous/README.md``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gristmill.components import (
    DistributionValidator,
    DistributionValidatorConfig,
    EvalConfig,
    Evaluator,
    FeatureComparator,
    Filesystem,
    GenericChangeThreshold,
    GenericValueThreshold,
    Input,
    MetricConfig,
    MetricDirection,
    MetricsSpec,
    MetricThreshold,
    ModelCardInfo,
    ModelSpec,
    Output,
    ParquetExampleGen,
    PushDestination,
    Pusher,
    SchemaGen,
    SlicingSpec,
    SplitConfig,
    SplitPattern,
    SplitSpec,
    StatisticsGen,
    Trainer,
    TrainerConfig,
)
from gristmill.metadata.settings import gristmill_home
from gristmill.metadata.standard_artifacts import ExampleStatistics, Model, ModelBlessing
from gristmill.orchestrator import Channel, Cond, LatestBlessedModelStrategy, Pipeline, Resolver

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from decision import PreviousSpanStrategy, RetrainDecision  # noqa: E402
from stream import LABEL_KEY  # noqa: E402

PIPELINE_NAME = "continuous"
#: Drift (span against the span before) and skew (serving against training) thresholds.
DRIFT = DistributionValidatorConfig(default=FeatureComparator(
    infinity_norm=0.1, jensen_shannon_divergence=0.1))
CARD = ModelCardInfo(
    intended_use="Demo: predict whether a taxi trip ends with a tip above 20% of the fare, "
                 "to rank driver incentives; retrained as daily spans arrive.",
    limitations="Synthetic taxi-like days; one city; trained on the latest span only.",
    owners=["gristmill-examples"])


def eval_config(min_auc: float, min_gain: float) -> EvalConfig:
    """AUC at least ``min_auc``, and at least ``min_gain`` above the blessed baseline's."""
    auc = MetricConfig(class_name="AUC", threshold=MetricThreshold(
        value_threshold=GenericValueThreshold(lower_bound=min_auc),
        change_threshold=GenericChangeThreshold(direction=MetricDirection.HIGHER_IS_BETTER,
                                                absolute=min_gain)))
    return EvalConfig(model_specs=[ModelSpec(label_key=LABEL_KEY)],
                      slicing_specs=[SlicingSpec(), SlicingSpec(feature_keys=["payment_type"])],
                      metrics_specs=[MetricsSpec(metrics=[auc])])


def span_input(split_names: tuple[str, ...]) -> Input:
    """``span-{SPAN}/<split>/*.parquet`` per split: ExampleGen takes the newest span."""
    return Input(splits=[SplitPattern(name=name, pattern=f"span-{{SPAN}}/{name}/*.parquet")
                         for name in split_names])


def create_pipeline(data_root: str, serving_log_root: str | None = None,
                    serving_model_dir: str | None = None, retrain_every_spans: int = 4,
                    epochs: int = 20, min_auc: float = 0.6, min_gain: float = 0.02,
                    root: str | None = None, metadata_url: str | None = None,
                    tracking_uri: str | None = None) -> Pipeline:
    """Build the continuous-training pipeline.

    Args:
        data_root: Folder of spans ``span-<N>/{train,eval}/*.parquet``.
        serving_log_root: Folder of logged serving requests ``span-<N>/*.parquet``; when
            given, the newest span is checked for skew against this span's training data.
        serving_model_dir: Where the Pusher writes versions.
        retrain_every_spans: The schedule: retrain on spans that are multiples of it.
        epochs: Training epochs per retrain (warm-started runs continue from the weights).
        min_auc: The Evaluator's floor.
        min_gain: How much AUC a candidate must gain over the blessed model to be pushed.
        root, metadata_url, tracking_uri: See :class:`Pipeline`.
    """
    serving_model_dir = serving_model_dir or str(gristmill_home() / "serving_model" /
                                                 PIPELINE_NAME)
    example_gen = ParquetExampleGen(input_base=data_root, input_config=span_input(
        ("train", "eval")))
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"])
    previous = Resolver(strategy_class=PreviousSpanStrategy,
                        statistics=Channel(type=ExampleStatistics),
                        current=statistics_gen.outputs["statistics"]).with_id(
        "previous_span_statistics")
    drift = DistributionValidator(statistics=statistics_gen.outputs["statistics"],
                                  baseline_statistics=previous.outputs["statistics"],
                                  config=DRIFT, include_split_pairs=[("train", "train")],
                                  halt_on_error=False).with_id("DriftValidator")
    latest = Resolver(strategy_class=LatestBlessedModelStrategy, model=Channel(type=Model),
                      model_blessing=Channel(type=ModelBlessing)).with_id(
        "latest_blessed_model")
    decision = RetrainDecision(examples=example_gen.outputs["examples"],
                               drift=drift.outputs["anomalies"],
                               base_model=latest.outputs["model"],
                               retrain_every_spans=retrain_every_spans)
    with Cond(decision.outputs["decision"].future()[0].custom_property("retrain") == 1):
        trainer, evaluator, pusher = _retrain(example_gen, statistics_gen, schema_gen, latest,
                                              serving_model_dir, epochs, min_auc, min_gain)
    components = [example_gen, statistics_gen, schema_gen, previous, drift, latest, decision,
                  trainer, evaluator, pusher]
    if serving_log_root:
        components += _skew_check(serving_log_root, statistics_gen)
    return Pipeline(PIPELINE_NAME, components, root=root, metadata_url=metadata_url,
                    tracking_uri=tracking_uri)


def _retrain(example_gen, statistics_gen, schema_gen, latest, serving_model_dir: str,
             epochs: int, min_auc: float, min_gain: float) -> tuple:
    """Trainer (warm start from the latest blessed model) -> Evaluator -> Pusher."""
    trainer = Trainer(examples=example_gen.outputs["examples"],
                      base_model=latest.outputs["model"],
                      config=TrainerConfig(label_key=LABEL_KEY, task="classification",
                                           hidden_units=[32, 16], learning_rate=0.01,
                                           epochs=epochs, batch_size=128, exports=[],
                                           distributed="off", device="cpu"))
    evaluator = Evaluator(examples=example_gen.outputs["examples"],
                          model=trainer.outputs["model"], baseline_model=latest.outputs["model"],
                          eval_config=eval_config(min_auc, min_gain))
    pusher = Pusher(model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
                    evaluation=evaluator.outputs["evaluation"],
                    statistics=statistics_gen.outputs["statistics"],
                    schema=schema_gen.outputs["schema"], examples=example_gen.outputs["examples"],
                    push_destination=PushDestination(
                        filesystem=Filesystem(base_directory=serving_model_dir)),
                    model_card=CARD)
    return trainer, evaluator, pusher


def _skew_check(serving_log_root: str, statistics_gen) -> list:
    """The newest span of logged requests, compared with this span's training data."""
    serving_gen = ParquetExampleGen(
        input_base=serving_log_root,
        input_config=Input(splits=[SplitPattern(name="serving", pattern="span-{SPAN}/*.parquet")]),
        output_config=Output(split_config=SplitConfig(splits=[
            SplitSpec(name="serving", hash_buckets=1)]))).with_id("ServingLogGen")
    serving_stats = StatisticsGen(examples=serving_gen.outputs["examples"]).with_id(
        "ServingStatisticsGen")
    skew = DistributionValidator(statistics=serving_stats.outputs["statistics"],
                                 baseline_statistics=statistics_gen.outputs["statistics"],
                                 config=DRIFT, include_split_pairs=[("serving", "train")],
                                 halt_on_error=False).with_id("SkewValidator")
    return [serving_gen, serving_stats, skew]


if __name__ == "__main__":
    import argparse
    import json

    from gristmill.orchestrator import LocalDagRunner

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--serving-log-root")
    args = parser.parse_args()
    result = LocalDagRunner().run(create_pipeline(
        os.path.abspath(args.data_root),
        os.path.abspath(args.serving_log_root) if args.serving_log_root else None))
    print(json.dumps(result.to_dict(), indent=2))
