"""Transform's statistics outputs (TFX ``disable_statistics=False``): plan them, finish them.

Pre-transform statistics cover each analyzed split of the raw examples (all input spans),
post-transform statistics each transformed split; both are folded inside Transform's own
Beam pipeline (:mod:`.pipeline`) with StatisticsGen's combine, so they cost no extra
pipeline. Afterwards this module writes:

* ``pre_transform_schema``: the input schema when one was given, else the schema SchemaGen
  would infer from the pre-transform statistics;
* ``post_transform_schema``: inferred from the post-transform statistics of the analyzed
  splits, with each categorical output's domain set to its full id range from the fitted
  plan (vocabulary, bucket and hash ids);
* ``post_transform_anomalies``: every transformed split validated against it.

Beam-free: the executor imports it before the pipeline runs.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass
from typing import Any

from gristmill.components.beam.parquet_source import row_group_tasks
from gristmill.components.beam.statistics.options import StatsOptions, stats_config
from gristmill.components.framework.statistics_report import REPORT_FILE
from gristmill.components.transform import files as parquet
from gristmill.components.transform.spec import (
    TransformParameters,
    resolve_stats_options_updater,
)
from gristmill.components.transform.tracing import TracedFn
from gristmill.metadata.errors import ConfigError, DataError
from gristmill.metadata.standard_artifacts import Examples

PRE, POST = "pre_transform", "post_transform"
OUTPUT_KEYS = ("pre_transform_schema", "pre_transform_stats", "post_transform_schema",
               "post_transform_stats", "post_transform_anomalies")


@dataclass
class SplitStats:
    """One split's statistics job: raw row groups (pre only), row count, config, target."""

    tasks: list[tuple[str, int]]
    rows: int
    config: Any  # beam.stats.StatsConfig
    out_dir: str


@dataclass
class StatsPlan:
    """Every statistics job of one Transform run."""

    pre: dict[str, SplitStats]
    post: dict[str, SplitStats]
    batch_size: int


def stats_options(params: TransformParameters, stats_type: str) -> StatsOptions:
    """Default ``StatsOptions``, passed through ``stats_options_updater_fn`` when given.

    Raises:
        ConfigError: The updater does not return a ``StatsOptions``.
    """
    updater = resolve_stats_options_updater(params)
    if updater is None:
        return StatsOptions()
    options = updater(stats_type, StatsOptions())
    if not isinstance(options, StatsOptions):
        raise ConfigError(f"Transform: stats_options_updater_fn({stats_type!r}, options) "
                          f"returned {type(options).__name__}, expected StatsOptions.",
                          fix="return the (updated) StatsOptions it was given")
    return options


def _check_columns(options: StatsOptions, columns: list[str], stats_type: str) -> None:
    for name in [options.weight_feature, *options.slice_features]:
        if name is not None and name not in columns:
            raise ConfigError(f"Transform: {stats_type} StatsOptions name column {name!r}, "
                              f"which the {stats_type} data does not have (columns: "
                              f"{sorted(columns)}).",
                              fix="return options naming one of these columns from "
                                  "stats_options_updater_fn for this stats_type")


def plan_statistics(inputs: list[Examples], output_dict, params: TransformParameters,
                    splits: tuple[list[str], list[str]], traced: TracedFn,
                    input_schema) -> StatsPlan:
    """The statistics jobs: ``splits`` is ``(analyzed, transformed)`` split names."""
    analyze, transform = splits
    pre_out = output_dict["pre_transform_stats"][0]
    post_out = output_dict["post_transform_stats"][0]
    pre_opts, post_opts = stats_options(params, PRE), stats_options(params, POST)
    pre, post = {}, {}
    for split in analyze:
        tasks, rows = [], 0
        for ex in inputs:
            t, n = row_group_tasks(parquet.parquet_files(ex.split_uri(split)))
            tasks, rows = tasks + t, rows + n
        if tasks:
            _check_columns(pre_opts, parquet.arrow_schema([tasks[0][0]]).names, PRE)
        pre[split] = SplitStats(tasks, rows, stats_config(pre_opts, input_schema, rows),
                                pre_out.split_uri(split))
    _check_columns(post_opts, list(traced.outputs), POST)
    categorical = categorical_outputs(traced)
    for split in transform:
        rows = sum(parquet.written_rows(ex.split_uri(split)) for ex in inputs)
        config = stats_config(post_opts, None, rows)
        config = dataclasses.replace(config, categorical_features=tuple(sorted(
            {*config.categorical_features, *categorical})))
        post[split] = SplitStats([], rows, config, post_out.split_uri(split))
    return StatsPlan(pre, post, pre_opts.batch_size)


def categorical_outputs(traced: TracedFn) -> list[str]:
    """Outputs holding integer ids (vocabulary, bucket, hash): counted as categories."""
    return sorted(name for name, node in traced.outputs.items()
                  if node.op != "input" and node.dtype == "int")


def mark_disabled(output_dict) -> None:
    """``disable_statistics``: publish the five outputs empty, marked ``disabled=1``."""
    for key in OUTPUT_KEYS:
        for art in output_dict.get(key) or []:
            art.set_custom_property("disabled", 1)
            if not key.endswith("_schema"):
                art.splits = []


def finish_statistics(context, output_dict, plan: StatsPlan, plan_json: dict,
                      input_schema_uri: str | None, span: int | None) -> dict[str, float]:
    """Check the written statistics, then write both schemas, the anomalies and reports.

    Returns:
        Metrics to log: rows and anomaly counts per split.
    """
    from gristmill.components.framework.data_schema import save_schema, schema_path
    from gristmill.components.framework.schema_inference import SchemaGenParameters, infer_schema

    pre = _load_checked(output_dict["pre_transform_stats"][0], plan.pre, span, context, PRE)
    post = _load_checked(output_dict["post_transform_stats"][0], plan.post, span, context,
                         POST)
    pre_schema_uri = output_dict["pre_transform_schema"][0].uri
    if input_schema_uri is not None:
        shutil.copyfile(schema_path(input_schema_uri), schema_path(pre_schema_uri))
    else:
        save_schema(infer_schema(list(pre.values()), SchemaGenParameters()), pre_schema_uri)
    basis = [post[s] for s in plan.pre if s in post] or list(post.values())
    schema = post_transform_schema(infer_schema(basis, SchemaGenParameters()), plan_json,
                                   max_domain=max(c.config.max_exact_unique
                                                  for c in plan.post.values()))
    save_schema(schema, output_dict["post_transform_schema"][0].uri)
    metrics = _validate(context, output_dict["post_transform_anomalies"][0], post, schema,
                        span)
    metrics.update({f"pre_transform_{s}_num_examples": float(st.num_examples)
                    for s, st in pre.items()})
    return metrics


def post_transform_schema(inferred, plan_json: dict, max_domain: int):
    """``inferred`` with each categorical output's domain set to all its possible ids.

    A vocabulary lookup without OOV buckets also allows its ``default_value``. Outputs with
    more ids than ``max_domain`` (the exact distinct-count limit of the statistics) keep
    no domain, and say so in their description.
    """
    steps = {s["id"]: s for s in plan_json.get("steps", [])}
    features = []
    for feature in inferred.features:
        out = next((o for o in plan_json["outputs"] if o["name"] == feature.name), None)
        size = out.get("vocab_size") if out and out.get("kind") == "categorical" else None
        if size is not None:
            ids = [str(i) for i in range(size)]
            params = steps.get(out["ref"], {}).get("params", {})
            if params.get("num_oov_buckets") == 0 and "default_value" in params:
                ids.append(str(params["default_value"]))
            note = f"ids in [0, {size})"
            feature = feature.model_copy(update={
                "categorical": True, "domain": ids if len(ids) <= max_domain else None,
                "description": note if len(ids) <= max_domain else
                f"{note}; too many ids to check as a domain (> {max_domain})"})
        features.append(feature)
    return inferred.model_copy(update={"features": features})


def _load_checked(artifact, jobs: dict[str, SplitStats], span, context, stats_type: str):
    from gristmill.components.framework.statistics_model import load_statistics
    from gristmill.components.framework.statistics_report import render_statistics_report

    stats = {}
    for split, job in jobs.items():
        stats[split] = load_statistics(job.out_dir)
        if stats[split].num_examples != job.rows:
            raise DataError(f"Transform: {stats_type} statistics of split {split!r} counted "
                            f"{stats[split].num_examples} rows, the Parquet metadata says "
                            f"{job.rows}.", uri=artifact.uri,
                            fix="the Examples files changed while Transform ran; rerun")
    artifact.splits = list(jobs)
    artifact.set_property("span", span)
    path = os.path.join(artifact.uri, REPORT_FILE)
    with open(path, "w") as f:
        f.write(render_statistics_report(
            stats, f"{stats_type.replace('_', '-').capitalize()} statistics",
            pipeline_name=context.pipeline_name, run_id=context.run_id,
            component_id=context.component_id, artifact_uri=artifact.uri))
    context.attach_report(path, stats_type)
    return stats


def _validate(context, artifact, post: dict, schema, span) -> dict[str, float]:
    from gristmill.components.framework.anomalies import save_split_anomalies, validate_statistics
    from gristmill.components.framework.anomalies_report import render_anomalies_report

    results = [validate_statistics(stats, schema) for stats in post.values()]
    save_split_anomalies(artifact, results)
    artifact.set_property("span", span)
    path = os.path.join(artifact.uri, REPORT_FILE)
    with open(path, "w") as f:
        f.write(render_anomalies_report(
            results, f"Post-transform anomalies: {context.component_id}"))
    context.attach_report(path, "post_transform_anomalies")
    return {f"post_transform_{r.split}_anomalies": float(len(r.anomalies)) for r in results}
