"""StatisticsGen: per-split, per-feature statistics of Examples, computed on Beam.

Each split's Parquet row groups are read as Arrow record batches (bounded memory) and
folded by :class:`~gristmill.components.beam.statistics.combine.StatsCombineFn`. Output: an
``ExampleStatistics`` artifact with ``Split-<name>/statistics.json`` and ``report.html``
(also attached to the component's MLflow run).
"""

from __future__ import annotations

import os

import pyarrow.parquet as pq

from gristmill.components.beam.parquet_source import parquet_files, row_group_tasks
from gristmill.components.beam.statistics.options import stats_config
from gristmill.components.framework.executor import BaseExecutor
from gristmill.components.framework.statistics_report import REPORT_FILE
from gristmill.components.statistics_gen.config import StatisticsGenParameters
from gristmill.metadata.errors import ConfigError, DataError
from gristmill.metadata.standard_artifacts import Examples, ExampleStatistics


class StatisticsGenExecutor(BaseExecutor):
    """Computes statistics of every non-excluded split in one Beam pipeline."""

    def Do(self, input_dict, output_dict, exec_properties: StatisticsGenParameters) -> None:
        examples = input_dict["examples"][0]
        output = output_dict["statistics"][0]
        schema = None
        if input_dict.get("schema"):
            from gristmill.components.framework.data_schema import load_schema

            schema = load_schema(input_dict["schema"][0].uri)
        splits = [s for s in examples.splits if s not in exec_properties.exclude_splits]
        plans = self._plan(examples, splits, exec_properties, schema)
        from gristmill.components.beam.statistics.pipeline import run_statistics_pipeline

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
            named = [n for n in [options.weight_feature, *options.slice_features] if n]
            schema_names = pq.read_schema(files[0]).names if named else []  # 5,000 columns: 40 ms
            for name in named:
                if name not in schema_names:
                    raise ConfigError(f"StatisticsGen: stats_options names column {name!r}, "
                                      f"which split {split!r} does not have (columns: "
                                      f"{schema_names}).", fix="use one of the columns above")
            plans[split] = (tasks, rows, stats_config(options, schema, rows))
        return plans

    def _check_and_report(self, output: ExampleStatistics, plans: dict) -> None:
        from gristmill.components.framework.statistics_model import load_statistics
        from gristmill.components.framework.statistics_report import render_statistics_report

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
                stats, "Statistics", pipeline_name=self.context.pipeline_name,
                run_id=self.context.run_id, component_id=self.context.component_id,
                artifact_uri=output.uri))
        self.context.attach_report(path)
