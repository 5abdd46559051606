"""Transform's executor: trace, analyze on Beam, freeze the plan, apply to every split.

The Beam pipeline itself is built by :mod:`.pipeline` (imported when the executor runs, so
importing the component class does not import Beam): each analysis pass is one combine per
input Examples artifact (span), merged with cached accumulators of unchanged spans; the
fitted plan is written to ``transform_graph`` and applied, with the same
:meth:`FittedTransform.transform` as serving, to every record batch.
"""

from __future__ import annotations

import json
import os

import pyarrow as pa

from gristmill.components.framework.executor import BaseExecutor
from gristmill.components.transform import cache
from gristmill.components.transform import files as parquet
from gristmill.components.transform.compiler import phase_targets, raw_type
from gristmill.components.transform.spec import TransformParameters, resolve_preprocessing_fn
from gristmill.components.transform.tracing import TracedFn, trace
from gristmill.engine.errors import EngineError
from gristmill.engine.transform_fn import FittedTransform
from gristmill.metadata.errors import ConfigError, DataError, GristmillError, did_you_mean
from gristmill.metadata.standard_artifacts import Examples

SCHEMA_FILE = "transformed_schema.json"
#: A few raw records of the analyzed data: the input example of models trained on the
#: transformed examples (which no longer have raw columns) and served on raw records.
RAW_EXAMPLE_FILE = "raw_example.parquet"
RAW_EXAMPLE_ROWS = 5
_SCHEMA_TYPES = {"INT": "int", "BOOL": "int", "FLOAT": "float", "STRING": "string",
                 "BYTES": "string"}


class TransformExecutor(BaseExecutor):
    """Runs :class:`~gristmill.components.transform.component.Transform`."""

    def Do(self, input_dict, output_dict, exec_properties: TransformParameters) -> None:
        from gristmill.components.transform.pipeline import (
            Apply,
            Dataset,
            raw_inputs,
            run_transform_pipeline,
        )

        params = exec_properties
        inputs: list[Examples] = list(input_dict["examples"])
        graph_out = output_dict["transform_graph"][0]
        cache_out = (output_dict.get("updated_analyzer_cache") or [None])[0]
        use_cache = not params.disable_analyzer_cache
        analyze = params.splits_config.analyze
        transform_splits = params.splits_config.transform or inputs[0].splits
        with_stats = _statistics_wanted(output_dict, params)
        for ex in inputs:
            _check_splits(ex, [*analyze, *(transform_splits if params.materialize or with_stats
                                           else [])])
        arrow_types, raw_types = self._column_types(inputs[0], analyze, input_dict)
        traced = _trace(params, raw_types)
        datasets = [Dataset(ex, cache.dataset_key(ex, analyze),
                            *_tasks(ex, analyze)) for ex in inputs]
        if traced.graph.analyzers and not sum(d.rows for d in datasets):
            raise DataError(f"Transform: the analyzed splits {analyze} have no rows.",
                            uri=inputs[0].uri, fix="analyze a non-empty split")
        cached = self._cached(input_dict, datasets, traced) if use_cache else {}
        outputs = output_dict.get("transformed_examples") or []
        stats = (_plan_statistics(inputs, output_dict, params, (analyze, transform_splits),
                                  traced, input_dict) if with_stats else None)
        write = params.materialize and outputs
        apply = (Apply(inputs, outputs[0] if write else None, transform_splits,
                       sorted(raw_inputs(list(traced.outputs.values()))), params.batch_rows,
                       stats.post if stats is not None else None)
                 if write or stats is not None else None)
        run_transform_pipeline(self.context.beam_pipeline_args, traced, datasets, cached,
                               cache_out.uri if cache_out is not None and use_cache else None,
                               arrow_types, graph_out.uri, apply, stats)
        ft = self._finish(graph_out, outputs, inputs, transform_splits, params, datasets,
                          cached, traced, cache_out if use_cache else None)
        if stats is not None:
            from gristmill.components.transform.statistics import finish_statistics

            schema_in = (input_dict.get("schema") or [None])[0]
            self.context.log_metrics(finish_statistics(
                self.context, output_dict, stats, ft.plan,
                schema_in.uri if schema_in is not None else None, _span(inputs)))

    # ------------------------------------------------------------------ setup
    def _column_types(self, examples: Examples, analyze: list[str], input_dict
                      ) -> tuple[dict[str, str], dict[str, str]]:
        files = parquet.parquet_files(examples.split_uri(analyze[0]))
        if not files:
            raise DataError(f"Transform: split {analyze[0]!r} of {examples.uri} has no Parquet "
                            "files.", uri=examples.uri, fix="check the Examples artifact")
        schema = parquet.arrow_schema(files)
        arrow_types = {f.name: str(f.type) for f in schema}
        raw_types = {f.name: raw_type(f.type) for f in schema}
        temporal = {f.name for f in schema if pa.types.is_temporal(f.type)}
        if input_dict.get("schema"):
            from gristmill.components.framework.data_schema import load_schema

            # A date/timestamp is INT in the schema (its stored integer, in its storage
            # unit); Transform sees it as days / seconds (raw_type), whatever the unit.
            for feature in load_schema(input_dict["schema"][0].uri).features:
                if feature.name in raw_types and feature.type in _SCHEMA_TYPES \
                        and feature.name not in temporal:
                    raw_types[feature.name] = _SCHEMA_TYPES[feature.type]
        return arrow_types, raw_types

    def _cached(self, input_dict, datasets: list, traced: TracedFn) -> dict:
        artifacts = input_dict.get("analyzer_cache") or []
        if not artifacts:
            return {}
        fps = {an.fingerprint for an in phase_targets(traced, 0)}
        return cache.load_cache(artifacts[0].uri, [d.key for d in datasets], fps)

    # ------------------------------------------------------------------ outputs
    def _finish(self, graph_out, outputs, inputs, splits, params, datasets, cached, traced,
                cache_out) -> FittedTransform:
        ft = FittedTransform.load(graph_out.uri)
        with open(os.path.join(graph_out.uri, SCHEMA_FILE), "w", encoding="utf-8") as f:
            json.dump({"raw_features": ft.plan["raw_features"],
                       "outputs": ft.plan["outputs"]}, f, indent=2)
        _save_raw_example(graph_out.uri, datasets[0].tasks, ft.raw_feature_names)
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
        return ft

    def _carry_cache(self, uri: str, datasets: list, cached: dict,
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
        output.set_property("row_counts", {s: parquet.written_rows(output.split_uri(s))
                                           for s in splits})
        output.set_property("span", _span(inputs))
        output.set_property("version", inputs[-1].get_property("version"))
        output.set_custom_property("materialized", 1 if splits else 0)


def _span(inputs: list[Examples]) -> int | None:
    """The newest span among the inputs (``None`` when none has one)."""
    spans = [ex.get_property("span") for ex in inputs if ex.get_property("span") is not None]
    return max(spans) if spans else None


def _statistics_wanted(output_dict, params: TransformParameters) -> bool:
    """Whether to compute the statistics outputs; marks them disabled when switched off.

    An output dict without them (an executor called directly, by hand) asks for none.
    """
    from gristmill.components.transform.statistics import OUTPUT_KEYS, mark_disabled

    if params.disable_statistics:
        mark_disabled(output_dict)
        return False
    present = [key for key in OUTPUT_KEYS if output_dict.get(key)]
    if present and len(present) < len(OUTPUT_KEYS):
        raise ConfigError(f"Transform: the output dict has {present} but not "
                          f"{sorted(set(OUTPUT_KEYS) - set(present))}.",
                          fix="pass all five statistics outputs, or none")
    return bool(present)


def _plan_statistics(inputs, output_dict, params, splits, traced, input_dict):
    from gristmill.components.transform.statistics import plan_statistics

    schema = None
    if input_dict.get("schema"):
        from gristmill.components.framework.data_schema import load_schema

        schema = load_schema(input_dict["schema"][0].uri)
    return plan_statistics(inputs, output_dict, params, splits, traced, schema)


def _check_splits(examples: Examples, wanted: list[str]) -> None:
    for split in wanted:
        if split not in examples.splits:
            raise ConfigError(f"Transform: split {split!r} is not in {examples.uri} (splits: "
                              f"{examples.splits}).{did_you_mean(split, examples.splits)}",
                              fix="fix splits_config.analyze / splits_config.transform")


def _tasks(examples: Examples, splits: list[str]) -> tuple[list[tuple[str, int]], int]:
    tasks, rows = [], 0
    for split in splits:
        t, n = parquet.row_group_tasks(parquet.parquet_files(examples.split_uri(split)))
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


def _save_raw_example(uri: str, tasks: list[tuple[str, int]], columns: list[str]) -> None:
    """Write the first :data:`RAW_EXAMPLE_ROWS` analyzed raw records (read columns only)."""
    import pyarrow.parquet as pq

    if not tasks:
        return
    handle = pq.ParquetFile(tasks[0][0])
    present = [c for c in columns if c in handle.schema_arrow.names]
    sample = next(handle.iter_batches(batch_size=RAW_EXAMPLE_ROWS, columns=present), None)
    if sample is not None:
        pq.write_table(pa.Table.from_batches([sample]), os.path.join(uri, RAW_EXAMPLE_FILE))
