"""ExampleValidator: anomalies of statistics against a schema, drift and skew.

Per split it writes ``Split-<name>/anomalies.json`` and sets the custom property
``blessed = {split: 0/1}``; ``report.html`` goes to the component's MLflow run. When any
split has an ERROR anomaly, downstream components are halted (``halt_on_error``).
"""

from __future__ import annotations

import os

from gristmill.components.example_validator.config import ExampleValidatorParameters
from gristmill.components.framework.anomalies import (
    SplitAnomalies,
    halt_reason,
    save_split_anomalies,
    validate_statistics,
)
from gristmill.components.framework.executor import BaseExecutor
from gristmill.components.framework.statistics_model import (
    DatasetStatistics,
    gc_paused,
    load_statistics,
)
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.standard_artifacts import ExampleAnomalies, ExampleStatistics

REPORT_FILE = "report.html"


def _serving_stats(artifact: ExampleStatistics | None, split: str,
                   params: ExampleValidatorParameters) -> DatasetStatistics | None:
    if artifact is None:
        return None
    name = params.serving_split
    if name is None:
        name = split if split in artifact.splits else (
            artifact.splits[0] if len(artifact.splits) == 1 else None)
    if name is None or name not in artifact.splits:
        raise ConfigError(f"ExampleValidator: serving statistics {artifact.uri} have splits "
                          f"{artifact.splits}; cannot tell which to compare with {split!r}.",
                          fix="set serving_split to one of those splits")
    return load_statistics(artifact.split_uri(name))


def _previous_stats(artifact: ExampleStatistics | None, split: str
                    ) -> DatasetStatistics | None:
    if artifact is None or split not in artifact.splits:
        return None
    return load_statistics(artifact.split_uri(split))


def _first(input_dict, key: str):
    artifacts = input_dict.get(key) or []
    return artifacts[0] if artifacts else None


class ExampleValidatorExecutor(BaseExecutor):
    """Validates every non-excluded split; blesses, reports and maybe halts."""

    def Do(self, input_dict, output_dict, exec_properties: ExampleValidatorParameters) -> None:
        from gristmill.components.framework.data_schema import load_schema

        statistics = input_dict["statistics"][0]
        previous = _first(input_dict, "previous_statistics")
        serving = _first(input_dict, "serving_statistics")
        output = output_dict["anomalies"][0]
        splits = [s for s in statistics.splits if s not in exec_properties.exclude_splits]
        with gc_paused():  # a model per column of the schema, acyclic
            schema = load_schema(input_dict["schema"][0].uri)
        results = [validate_statistics(load_statistics(statistics.split_uri(split)), schema,
                                       previous=_previous_stats(previous, split),
                                       serving=_serving_stats(serving, split, exec_properties))
                   for split in splits]
        save_split_anomalies(output, results)
        output.set_property("span", statistics.get_property("span"))
        self._report(output, results)
        reason = halt_reason("ExampleValidator", [
            f"{r.split}: {a.feature or 'dataset'} {a.code}" for r in results
            for a in r.anomalies if a.severity == "ERROR"], f"{output.uri}/{REPORT_FILE}")
        if reason and exec_properties.halt_on_error:
            self.context.halt_downstream(reason)

    def _report(self, output: ExampleAnomalies, results: list[SplitAnomalies]) -> None:
        from gristmill.components.framework.anomalies_report import render_anomalies_report

        path = os.path.join(output.uri, REPORT_FILE)
        with open(path, "w") as f:
            f.write(render_anomalies_report(results, f"Anomalies: {self.context.component_id}"))
        self.context.attach_report(path)
        self.context.log_metrics({f"{r.split}_anomalies": float(len(r.anomalies))
                                  for r in results})
