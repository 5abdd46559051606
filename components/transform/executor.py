"""Transform's executor: trace, analyze on Beam, freeze the plan, apply to every split.

One Beam pipeline: each analysis pass is one combine per input Examples artifact (span) over
its analyzed splits' row groups, merged with cached accumulators of unchanged spans; the
merged accumulators become the fitted plan (a singleton), written to ``transform_graph`` and
used as a side input by the apply step, which calls the same
:meth:`FittedTransform.transform` as serving does on every record batch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import pyarrow as pa

from gristmill.components.beam.pipeline import make_beam_pipeline
from gristmill.components.executor import BaseExecutor
from gristmill.components.transform import beam_io, cache
from gristmill.components.transform.analysis import AnalyzerSet
from gristmill.components.transform.beam_io import AnalyzeCombineFn, MergeAccumulatorsFn
from gristmill.components.transform.compiler import build_plan, num_phases, phase_targets, raw_type
from gristmill.components.transform.spec import TransformParameters, resolve_preprocessing_fn
from gristmill.components.transform.tracing import Node, TracedFn, trace
from gristmill.engine.transform_fn import FittedTransform
from gristmill.engine.errors import EngineError
from gristmill.metadata.errors import ConfigError, DataError, GristmillError, did_you_mean
from gristmill.metadata.standard_artifacts import Examples

SCHEMA_FILE = "transformed_schema.json"
_SCHEMA_TYPES = {"INT": "int", "BOOL": "int", "FLOAT": "float", "STRING": "string",
                 "BYTES": "string"}


@dataclass
class Dataset:
    """One input Examples artifact as analysis sees it."""

    examples: Examples
    key: str
    tasks: list[tuple[str, int]]
    rows: int


class TransformExecutor(BaseExecutor):
    """Runs :class:`~gristmill.components.transform.component.Transform`."""

    def Do(self, input_dict, output_dict, exec_properties: TransformParameters) -> None:
        params = exec_properties
        inputs: list[Examples] = list(input_dict["examples"])
        graph_out = output_dict["transform_graph"][0]
        cache_out = (output_dict.get("updated_analyzer_cache") or [None])[0]
        use_cache = not params.disable_analyzer_cache
        analyze = params.splits_config.analyze
        transform_splits = params.splits_config.transform or inputs[0].splits
        for ex in inputs:
            _check_splits(ex, [*analyze, *(transform_splits if params.materialize else [])])
        arrow_types, raw_types = self._column_types(inputs[0], analyze, input_dict)
        traced = _trace(params, raw_types)
        datasets = [Dataset(ex, cache.dataset_key(ex, analyze),
                            *_tasks(ex, analyze)) for ex in inputs]
        if traced.graph.analyzers and not sum(d.rows for d in datasets):
            raise DataError(f"Transform: the analyzed splits {analyze} have no rows.",
                            uri=inputs[0].uri, fix="analyze a non-empty split")
        cached = self._cached(input_dict, datasets, traced) if use_cache else {}
        outputs = output_dict.get("transformed_examples") or []
        with make_beam_pipeline(self.context.beam_pipeline_args) as pipeline:
            accs = self._analyze(pipeline, traced, datasets, cached,
                                 cache_out.uri if cache_out is not None and use_cache else None)
            fitted = accs | "FitPlan" >> beam.Map(
                lambda merged: build_plan(traced, merged, arrow_types))
            _ = fitted | "WritePlan" >> beam.Map(_save_plan, graph_out.uri)
            if params.materialize and outputs:
                self._apply(pipeline, fitted, inputs, outputs[0], transform_splits,
                            _apply_columns(traced), params.batch_rows)
        self._finish(graph_out, outputs, inputs, transform_splits, params, datasets, cached,
                     traced, cache_out if use_cache else None)

    # ------------------------------------------------------------------ setup
    def _column_types(self, examples: Examples, analyze: list[str], input_dict
                      ) -> tuple[dict[str, str], dict[str, str]]:
        files = beam_io.parquet_files(examples.split_uri(analyze[0]))
        if not files:
            raise DataError(f"Transform: split {analyze[0]!r} of {examples.uri} has no Parquet "
                            "files.", uri=examples.uri, fix="check the Examples artifact")
        schema = beam_io.arrow_schema(files)
        arrow_types = {f.name: str(f.type) for f in schema}
        raw_types = {f.name: raw_type(f.type) for f in schema}
        if input_dict.get("schema"):
            from gristmill.components.data_schema import load_schema

            for feature in load_schema(input_dict["schema"][0].uri).features:
                if feature.name in raw_types and feature.type in _SCHEMA_TYPES:
                    raw_types[feature.name] = _SCHEMA_TYPES[feature.type]
        return arrow_types, raw_types

    def _cached(self, input_dict, datasets: list[Dataset], traced: TracedFn) -> dict:
        artifacts = input_dict.get("analyzer_cache") or []
        if not artifacts:
            return {}
        fps = {an.fingerprint for an in phase_targets(traced, 0)}
        return cache.load_cache(artifacts[0].uri, [d.key for d in datasets], fps)

    # ------------------------------------------------------------------ pipeline
    def _analyze(self, pipeline, traced: TracedFn, datasets: list[Dataset], cached: dict,
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
                    parts.append(self._accumulate(pipeline, traced, todo, ds, phase, i, merged,
                                                  cache_uri))
            merged = (parts | f"Flatten[{phase}]" >> beam.Flatten()
                      | f"Merge[{phase}]" >> beam.CombineGlobally(MergeAccumulatorsFn()))
        return merged

    def _accumulate(self, pipeline, traced, analyzers, ds: Dataset, phase: int, i: int,
                    earlier, cache_uri: str | None):
        label = f"[{phase},{i}]"
        columns = sorted(_raw_inputs([n for an in analyzers for n in an.inputs]))
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

    def _apply(self, pipeline, fitted, inputs: list[Examples], output: Examples,
               splits: list[str], columns: list[str], batch_rows: int) -> None:
        side = beam.pvalue.AsSingleton(fitted)
        for split in splits:
            out_dir = output.split_uri(split)
            os.makedirs(out_dir, exist_ok=True)
            for i, ex in enumerate(inputs):
                files = beam_io.parquet_files(ex.split_uri(split))
                tasks = [(f, p, rg) for f, path in enumerate(files)
                         for p, rg in beam_io.row_group_tasks([path])[0]]
                prefix = f"{i:02d}-" if len(inputs) > 1 else ""
                _ = (pipeline | f"ApplyTasks[{split},{i}]" >> beam.Create(tasks)
                     | f"Apply[{split},{i}]" >> beam.ParDo(
                         beam_io.TransformRowGroup(out_dir, prefix, columns, batch_rows), side))

    # ------------------------------------------------------------------ outputs
    def _finish(self, graph_out, outputs, inputs, splits, params, datasets, cached, traced,
                cache_out) -> None:
        ft = FittedTransform.load(graph_out.uri)
        with open(os.path.join(graph_out.uri, SCHEMA_FILE), "w", encoding="utf-8") as f:
            json.dump({"raw_features": ft.plan["raw_features"],
                       "outputs": ft.plan["outputs"]}, f, indent=2)
        phase0 = {an.fingerprint for an in phase_targets(traced, 0)}
        reused = sum(len(set(cached.get(d.key, {})) & phase0) for d in datasets)
        computed = len(traced.graph.analyzers) * len(datasets) - reused
        for art in (graph_out, *( [cache_out] if cache_out is not None else [])):
            art.set_custom_property("analyzers_computed", computed)
            art.set_custom_property("analyzers_reused", reused)
        if cache_out is not None:
            self._carry_cache(cache_out.uri, datasets, cached, traced)
        self.context.log_metrics({"analyzers_computed": computed, "analyzers_reused": reused,
                                  "output_features": len(ft.output_features)})
        if outputs:
            self._describe_examples(outputs[0], inputs, splits if params.materialize else [])

    def _carry_cache(self, uri: str, datasets: list[Dataset], cached: dict,
                     traced: TracedFn) -> None:
        """Copy reused accumulators into the updated cache and write its index."""
        specs = {an.fingerprint: an for an in phase_targets(traced, 0)}
        index = {}
        for d in datasets:
            hit = cached.get(d.key, {})
            cache.write_entries(uri, d.key, {
                fp: cache.entry_json(specs[fp].kind, specs[fp].params, specs[fp].label, acc)
                for fp, acc in hit.items()})
            index[d.key] = {"uri": d.examples.uri, "span": d.examples.get_property("span"),
                            "version": d.examples.get_property("version"),
                            "analyzers": sorted(specs)}
        cache.write_index(uri, index)

    def _describe_examples(self, output: Examples, inputs: list[Examples],
                           splits: list[str]) -> None:
        output.splits = list(splits)
        output.set_property("row_counts", {s: beam_io.written_rows(output.split_uri(s))
                                           for s in splits})
        spans = [ex.get_property("span") for ex in inputs if ex.get_property("span") is not None]
        output.set_property("span", max(spans) if spans else None)
        output.set_property("version", inputs[-1].get_property("version"))
        output.set_custom_property("materialized", 1 if splits else 0)


def _check_splits(examples: Examples, wanted: list[str]) -> None:
    for split in wanted:
        if split not in examples.splits:
            raise ConfigError(f"Transform: split {split!r} is not in {examples.uri} (splits: "
                              f"{examples.splits}).{did_you_mean(split, examples.splits)}",
                              fix="fix splits_config.analyze / splits_config.transform")


def _tasks(examples: Examples, splits: list[str]) -> tuple[list[tuple[str, int]], int]:
    tasks, rows = [], 0
    for split in splits:
        t, n = beam_io.row_group_tasks(beam_io.parquet_files(examples.split_uri(split)))
        tasks += t
        rows += n
    return tasks, rows


def _trace(params: TransformParameters, raw_types: dict[str, str]) -> TracedFn:
    fn = resolve_preprocessing_fn(params)
    try:
        return trace(fn, raw_types, params.custom_config)
    except (GristmillError, EngineError):
        raise
    except Exception as e:  # the user's code: say so, keep the cause
        raise ConfigError(f"Transform: preprocessing_fn raised {type(e).__name__}: {e}",
                          fix="fix the preprocessing_fn (it runs once, on symbolic columns)"
                          ) from e


def _raw_inputs(nodes: list[Node]) -> set[str]:
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


def _apply_columns(traced: TracedFn) -> list[str]:
    return sorted(_raw_inputs(list(traced.outputs.values())))


def _save_plan(fitted: tuple[dict, dict], uri: str) -> None:
    plan, vocabs = fitted
    FittedTransform(plan, vocabs, source="Transform").save(uri)


def _write_cache(accs: dict[str, Any], uri: str, key: str, specs: dict) -> int:
    entries = {fp: cache.entry_json(an.kind, an.params, an.label, accs[fp])
               for fp, an in specs.items()}
    return cache.write_entries(uri, key, entries)

