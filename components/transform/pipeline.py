"""Transform's Beam pipeline: analysis passes, the fitted plan, and the apply step.

One pipeline: each analysis pass is one combine per input Examples artifact (span) over
its analyzed splits' row groups, merged with cached accumulators of unchanged spans; the
merged accumulators become the fitted plan (a singleton), written to ``transform_graph`` and
used as a side input by the apply step. Statistics ride along: StatisticsGen's combine over
the raw analyzed splits (pre-transform) and over the apply step's transformed batches
(post-transform, so transformed data is never read back). Imported by the executor only,
so defining a pipeline does not import Beam.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import pyarrow as pa

from gristmill.components.beam.pipeline import make_beam_pipeline
from gristmill.components.transform import beam_io, beam_stats, cache
from gristmill.components.transform.analysis import AnalyzerSet
from gristmill.components.transform.beam_io import AnalyzeCombineFn, MergeAccumulatorsFn
from gristmill.components.transform.compiler import build_plan, num_phases, phase_targets
from gristmill.components.transform.statistics import POST, PRE, SplitStats, StatsPlan
from gristmill.components.transform.tracing import Node, TracedFn
from gristmill.engine.transform_fn import FittedTransform
from gristmill.metadata.standard_artifacts import Examples


@dataclass
class Dataset:
    """One input Examples artifact as analysis sees it."""

    examples: Examples
    key: str
    tasks: list[tuple[str, int]]
    rows: int


@dataclass
class Apply:
    """What the apply step does: transform ``splits`` of ``inputs``, write them into
    ``output`` (unless ``None``) and fold their post-transform statistics (``stats``:
    split -> job, or ``None``)."""

    inputs: list[Examples]
    output: Examples | None
    splits: list[str]
    columns: list[str]
    batch_rows: int
    stats: dict[str, SplitStats] | None = None


def run_transform_pipeline(beam_args: list[str], traced: TracedFn, datasets: list[Dataset],
                           cached: dict, cache_uri: str | None, arrow_types: dict[str, str],
                           graph_uri: str, apply: Apply | None,
                           stats: StatsPlan | None = None) -> None:
    """Analyze, write the fitted plan to ``graph_uri`` and (optionally) apply it.

    Args:
        beam_args: The component's Beam pipeline args.
        traced: The traced ``preprocessing_fn``.
        datasets: The analyzed input artifacts.
        cached: Dataset key -> analyzer fingerprint -> cached accumulator.
        cache_uri: Where to write this run's accumulators, or ``None``.
        arrow_types: Raw column -> Arrow type name.
        graph_uri: The ``transform_graph`` directory.
        apply: The splits to transform and write, or ``None``.
        stats: The statistics jobs; their pre-transform ones run here, the post-transform
            ones in the apply step (``apply.stats``).
    """
    with make_beam_pipeline(beam_args) as pipeline:
        accs = _analyze(pipeline, traced, datasets, cached, cache_uri)
        fitted = accs | "FitPlan" >> beam.Map(
            lambda merged: build_plan(traced, merged, arrow_types))
        _ = fitted | "WritePlan" >> beam.Map(_save_plan, graph_uri)
        post_batches = _apply(pipeline, fitted, apply) if apply is not None else []
        if stats is not None:
            _statistics(pipeline, stats, post_batches)


def _analyze(pipeline, traced: TracedFn, datasets: list[Dataset], cached: dict,
             cache_uri: str | None):
    merged = pipeline | "NoAnalyzers" >> beam.Create([{}])
    for phase in range(num_phases(traced)):
        analyzers = phase_targets(traced, phase)
        parts = [merged]
        for i, ds in enumerate(datasets):
            hit = cached.get(ds.key, {}) if phase == 0 else {}
            todo = [an for an in analyzers if an.fingerprint not in hit]
            if hit:
                parts.append(pipeline | f"Cached[{phase},{i}]" >> beam.Create([hit]))
            if todo:
                parts.append(_accumulate(pipeline, traced, todo, ds, (phase, i), merged,
                                         cache_uri))
        merged = (parts | f"Flatten[{phase}]" >> beam.Flatten()
                  | f"Merge[{phase}]" >> beam.CombineGlobally(MergeAccumulatorsFn()))
    return merged


def _accumulate(pipeline, traced, analyzers, ds: Dataset, where: tuple[int, int], earlier,
                cache_uri: str | None):
    phase, _ = where
    label = f"[{where[0]},{where[1]}]"
    columns = sorted(raw_inputs([n for an in analyzers for n in an.inputs]))
    batches = (pipeline | f"RowGroups{label}" >> beam.Create(ds.tasks)
               | f"Read{label}" >> beam.ParDo(beam_io.ReadBatches(columns))
               .with_output_types(pa.RecordBatch))
    if phase == 0:  # no earlier results needed: one CombineFn over every batch
        aset = AnalyzerSet.for_analyzers(traced, analyzers, {})
        accs = batches | f"Analyze{label}" >> beam.CombineGlobally(AnalyzeCombineFn(aset))
        if cache_uri is not None:
            specs = {an.fingerprint: an for an in analyzers}
            _ = accs | f"Cache{label}" >> beam.Map(_write_cache, cache_uri, ds.key, specs)
        return accs
    aset_pc = earlier | f"Plan{label}" >> beam.Map(
        lambda accs, an: AnalyzerSet.for_analyzers(traced, an, accs), analyzers)
    return (batches
            | f"Analyze{label}" >> beam.Map(lambda b, s: s.add(s.create(), b),
                                            beam.pvalue.AsSingleton(aset_pc))
            | f"MergeBatches{label}" >> beam.CombineGlobally(MergeAccumulatorsFn()))


def _apply(pipeline, fitted, apply: Apply) -> list:
    """Transform (and write) every split; returns the batch streams of post statistics."""
    side = beam.pvalue.AsSingleton(fitted)
    batches = []
    for split in apply.splits:
        out_dir = apply.output.split_uri(split) if apply.output is not None else None
        if out_dir is not None:
            os.makedirs(out_dir, exist_ok=True)
        key = beam_stats.job_key(POST, split) if apply.stats is not None else None
        for i, ex in enumerate(apply.inputs):
            files = beam_io.parquet_files(ex.split_uri(split))
            tasks = [(f, p, rg) for f, path in enumerate(files)
                     for p, rg in beam_io.row_group_tasks([path])[0]]
            prefix = f"{i:02d}-" if len(apply.inputs) > 1 else ""
            done = (pipeline | f"ApplyTasks[{split},{i}]" >> beam.Create(tasks)
                    | f"Apply[{split},{i}]" >> beam.ParDo(
                        beam_io.TransformRowGroup(out_dir, prefix, apply.columns,
                                                  apply.batch_rows, key),
                        side).with_outputs(beam_io.BATCHES, main="written"))
            batches.append(done[beam_io.BATCHES])
    return batches


def _statistics(pipeline, stats: StatsPlan, post_batches: list) -> None:
    """Every pre- and post-transform split's statistics in one combine, then written."""
    jobs: dict[str, tuple[str, SplitStats]] = {}
    for stats_type, plans in ((PRE, stats.pre), (POST, stats.post)):
        jobs |= {beam_stats.job_key(stats_type, s): (s, job) for s, job in plans.items()}
    pre_tasks = [(beam_stats.job_key(PRE, s), task) for s, job in stats.pre.items()
                 for task in job.tasks]
    pre = (pipeline | "PreStatsRowGroups" >> beam.Create(pre_tasks)
           | "PreStatsRead" >> beam.ParDo(beam_stats.ReadKeyedRowGroups(None, stats.batch_size))
           .with_output_types(tuple[str, tuple[int, pa.RecordBatch]]))
    configs = {key: job.config for key, (_, job) in jobs.items()}
    partials = [stream | f"StatsFold[{i}]" >> beam.CombineGlobally(
        beam_stats.JobsAccumulateFn(configs)) for i, stream in enumerate([pre, *post_batches])]
    _ = (partials | "StatsFlatten" >> beam.Flatten()
         | "Statistics" >> beam.CombineGlobally(beam_stats.JobsMergeFn(configs))
         | "WriteStatistics" >> beam.Map(beam_stats.write_statistics, jobs))


def raw_inputs(nodes: list[Node]) -> set[str]:
    """Raw columns the values of ``nodes`` are computed from (analyzer inputs excluded)."""
    seen, stack, raw = set(), list(nodes), set()
    while stack:
        node = stack.pop()
        if node.id in seen:
            continue
        seen.add(node.id)
        if node.op == "input":
            raw.add(node.params["name"])
        stack.extend(a for a in node.args if isinstance(a, Node))
    return raw


def _save_plan(fitted: tuple[dict, dict], uri: str) -> None:
    plan, vocabs = fitted
    FittedTransform(plan, vocabs, source="Transform").save(uri)


def _write_cache(accs: dict[str, Any], uri: str, key: str, specs: dict) -> int:
    entries = {fp: cache.entry_json(an.kind, an.params, an.label, accs[fp])
               for fp, an in specs.items()}
    return cache.write_entries(uri, key, entries)
