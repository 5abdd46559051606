"""StatisticsGen: per-split, per-feature statistics of Examples, computed on Beam.

Each split's Parquet row groups are read as Arrow record batches (bounded memory) and
folded by :class:`~gristmill.components.beam.stats.StatsCombineFn`. Output: an
``ExampleStatistics`` artifact with ``Split-<name>/statistics.json`` and ``report.html``
(also attached to the component's MLflow run).
"""

from __future__ import annotations

import glob
import math
import os

import pyarrow.parquet as pq
import pydantic

from gristmill.components.base import BaseComponent, InputSpec, OutputSpec, Parameters
from gristmill.components.beam.sketches import kll_k_for_epsilon
from gristmill.components.executor import BaseExecutor
from gristmill.metadata.errors import ConfigError, DataError
from gristmill.metadata.standard_artifacts import Examples, ExampleStatistics, Schema

REPORT_FILE = "report.html"


class StatsOptions(pydantic.BaseModel):
    """What StatisticsGen computes (TFDV ``StatsOptions`` names where they exist).

    Attributes:
        epsilon: Max normalised rank error of quantiles (KLL sketch plus row sampling).
        num_top_values: Most frequent values kept per string feature.
        num_histogram_buckets: Buckets of the equal-width histogram.
        num_quantiles_histogram_buckets: Buckets of the quantiles histogram (divides 100).
        max_exact_unique: Distinct values counted exactly; beyond, sketches estimate.
        weight_feature: Column of row weights for weighted moments and value counts.
        slice_features: Columns whose values define slices (``feature=value``).
        max_slices_per_feature: Largest slices kept per slice feature; the rest are merged
            into ``feature=__OTHER__``.
        feature_allowlist: Only these columns (all when ``None``).
        categorical_features: Integer columns to count as categories.
        quantile_sample_size: Rows per split fed to quantile sketches; larger splits are
            sampled deterministically. ``None`` derives it from ``epsilon``.
        batch_size: Rows per Arrow record batch.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    epsilon: float = pydantic.Field(0.01, gt=0.0, lt=0.5)
    num_top_values: int = pydantic.Field(20, ge=1)
    num_histogram_buckets: int = pydantic.Field(10, ge=1)
    num_quantiles_histogram_buckets: int = 10
    max_exact_unique: int = pydantic.Field(10_000, ge=1)
    weight_feature: str | None = None
    slice_features: list[str] = []
    max_slices_per_feature: int = pydantic.Field(50, ge=1)
    feature_allowlist: list[str] | None = None
    categorical_features: list[str] = []
    quantile_sample_size: int | None = pydantic.Field(None, ge=1000)
    batch_size: int = pydantic.Field(65_536, ge=1)

    @pydantic.field_validator("num_quantiles_histogram_buckets")
    @classmethod
    def _divides_100(cls, value: int) -> int:
        if value < 1 or 100 % value:
            raise ValueError(f"must divide 100 (quantiles are kept at 1% steps), got {value}")
        return value

    def sample_size(self) -> int:
        """Rows fed to quantile sketches: enough that sampling adds < epsilon/3 rank error.

        With m sampled rows the rank error's standard deviation is at most 0.5/sqrt(m);
        m = (6 / epsilon)**2 keeps 4 of them under epsilon/3 (360k rows at epsilon=1%).
        """
        return self.quantile_sample_size or math.ceil((6 / self.epsilon) ** 2)


class StatisticsGenParameters(Parameters):
    """Parameters of :class:`StatisticsGen`.

    Attributes:
        stats_options: See :class:`StatsOptions`.
        exclude_splits: Splits to skip.
    """

    stats_options: StatsOptions = StatsOptions()
    exclude_splits: list[str] = []


def parquet_files(split_dir: str) -> list[str]:
    """Sorted Parquet files of one split directory."""
    return sorted(glob.glob(os.path.join(split_dir, "*.parquet")))


def row_group_tasks(files: list[str]) -> tuple[list[tuple[str, int]], int]:
    """``(path, row group)`` tasks of ``files`` (empty files have none) and their rows."""
    tasks, rows = [], 0
    for path in files:
        metadata = pq.ParquetFile(path).metadata
        rows += metadata.num_rows
        tasks.extend((path, i) for i in range(metadata.num_row_groups))
    return tasks, rows


def stats_config(options: StatsOptions, schema, rows: int):
    """The :class:`~gristmill.components.beam.stats.StatsConfig` of one split of ``rows`` rows.

    Integer features that ``schema`` (a ``DataSchema`` or ``None``) marks categorical are
    counted as categories, like ``options.categorical_features``.
    """
    from gristmill.components.beam.stats import StatsConfig

    categorical = set(options.categorical_features)
    if schema is not None:
        categorical |= {f.name for f in schema.features if f.categorical and f.type == "INT"}
    return StatsConfig(
        kll_k=kll_k_for_epsilon(options.epsilon), num_top_values=options.num_top_values,
        num_histogram_buckets=options.num_histogram_buckets,
        num_quantiles_histogram_buckets=options.num_quantiles_histogram_buckets,
        max_exact_unique=options.max_exact_unique, weight_feature=options.weight_feature,
        slice_features=tuple(options.slice_features),
        max_slices_per_feature=options.max_slices_per_feature,
        sample_rate=min(1.0, options.sample_size() / rows) if rows else 1.0,
        features=tuple(options.feature_allowlist) if options.feature_allowlist else None,
        categorical_features=tuple(sorted(categorical)))


class StatisticsGenExecutor(BaseExecutor):
    """Computes statistics of every non-excluded split in one Beam pipeline."""

    def Do(self, input_dict, output_dict, exec_properties: StatisticsGenParameters) -> None:
        examples = input_dict["examples"][0]
        output = output_dict["statistics"][0]
        schema = None
        if input_dict.get("schema"):
            from gristmill.components.data_schema import load_schema

            schema = load_schema(input_dict["schema"][0].uri)
        splits = [s for s in examples.splits if s not in exec_properties.exclude_splits]
        plans = self._plan(examples, splits, exec_properties, schema)
        from gristmill.components.beam.stats_pipeline import run_statistics_pipeline

        run_statistics_pipeline({s: (tasks, config) for s, (tasks, _, config) in plans.items()},
                                output.split_uri, exec_properties.stats_options.batch_size,
                                self.context.beam_pipeline_args)
        output.splits = splits
        output.set_property("span", examples.get_property("span"))
        self._check_and_report(output, plans)

    def _plan(self, examples: Examples, splits, params, schema) -> dict:
        options = params.stats_options
        plans = {}
        for split in splits:
            files = parquet_files(examples.split_uri(split))
            if not files:
                raise DataError(f"StatisticsGen: split {split!r} of {examples.uri} has no "
                                f"Parquet files.", uri=examples.split_uri(split),
                                fix="check the Examples artifact or add the split to "
                                    "exclude_splits")
            tasks, rows = row_group_tasks(files)
            schema_names = pq.read_schema(files[0]).names
            for name in [options.weight_feature, *options.slice_features]:
                if name is not None and name not in schema_names:
                    raise ConfigError(f"StatisticsGen: stats_options names column {name!r}, "
                                      f"which split {split!r} does not have (columns: "
                                      f"{schema_names}).", fix="use one of the columns above")
            plans[split] = (tasks, rows, stats_config(options, schema, rows))
        return plans

    def _check_and_report(self, output: ExampleStatistics, plans: dict) -> None:
        from gristmill.components.reports.statistics_report import render_statistics_report
        from gristmill.components.statistics_model import load_statistics

        stats = {}
        for split, (_, rows, _) in plans.items():
            stats[split] = load_statistics(output.split_uri(split))
            if stats[split].num_examples != rows:
                raise DataError(f"StatisticsGen: split {split!r} has {rows} rows in its Parquet "
                                f"metadata but {stats[split].num_examples} were read.",
                                uri=output.uri, fix="the Examples files changed while reading; "
                                                    "rerun")
            self.context.log_metrics({f"{split}_num_examples": float(rows)})
        path = os.path.join(output.uri, REPORT_FILE)
        with open(path, "w") as f:
            f.write(render_statistics_report(
                stats, title=f"Statistics: {self.context.component_id}"))
        self.context.attach_report(path)


class StatisticsGen(BaseComponent):
    """Computes statistics over every split of an Examples artifact.

    Args:
        examples: An ``Examples`` channel (e.g. ``CsvExampleGen.outputs["examples"]``).
        schema: Optional ``Schema`` channel; integer features it marks categorical are
            counted as categories.
        stats_options: A :class:`StatsOptions`.
        exclude_splits: Splits to skip.

    Outputs:
        statistics: ``ExampleStatistics`` with ``Split-<name>/statistics.json`` and
        ``report.html``.
    """

    INPUTS = {"examples": InputSpec(Examples), "schema": InputSpec(Schema, optional=True)}
    OUTPUTS = {"statistics": OutputSpec(ExampleStatistics)}
    PARAMETERS = StatisticsGenParameters
    EXECUTOR = StatisticsGenExecutor
    VERSION = "1"
