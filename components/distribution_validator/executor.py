"""DistributionValidator: compares feature distributions of two statistics artifacts.

TFX's ``DistributionValidator(statistics, baseline_statistics, config)``: for each pair
(current split, baseline split) it measures, per configured feature, the L-infinity
distance of value frequencies and/or the Jensen-Shannon divergence of histograms
(:func:`gristmill.components.framework.anomalies.measure_feature`), and the ratio of row counts.
Distances above the thresholds of :class:`DistributionValidatorConfig` are anomalies.

Output layout (``ExampleAnomalies``): ``Split-<current split>/anomalies.json`` (a
:class:`~gristmill.components.framework.anomalies.SplitAnomalies`), ``Split-<current
split>/comparisons.json`` (every measured distance and every skipped comparison),
``report.html``; custom properties ``blessed`` = {split: 0/1} and ``split_pairs`` =
[[current, baseline], ...]. Without baseline statistics (a first run, when a Resolver found
none) every split is blessed and ``no_baseline`` = 1, as TFX does.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from gristmill.components.distribution_validator.config import (
    DistributionValidatorConfig,
    DistributionValidatorParameters,
    NumExamplesComparator,
    check_features,
    resolve_split_pairs,
)
from gristmill.components.framework.anomalies import (
    Anomaly,
    SplitAnomalies,
    compare_feature,
    halt_reason,
    make_anomaly,
    measure_feature,
    save_split_anomalies,
)
from gristmill.components.framework.data_schema import FeatureComparator
from gristmill.components.framework.executor import BaseExecutor
from gristmill.components.framework.statistics_model import (
    DatasetStatistics,
    FeatureStatistics,
    load_statistics,
)
from gristmill.metadata.standard_artifacts import ExampleAnomalies, ExampleStatistics

REPORT_FILE = "report.html"
COMPARISONS_FILE = "comparisons.json"


@dataclass
class PairComparison:
    """The result of comparing one current split with one baseline split.

    Attributes:
        anomalies: The anomalies, named after the current split.
        baseline_split: The baseline split compared with.
        measurements: Every distance measured: feature, measure, threshold, distance, value.
        skipped: Comparisons not made (feature, measure, reason); counted, never silent.
        num_examples_ratio: Current rows / baseline rows (``None`` on an empty baseline).
    """

    anomalies: SplitAnomalies
    baseline_split: str
    measurements: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    num_examples_ratio: float | None = None

    def to_json(self) -> dict:
        """What ``comparisons.json`` holds."""
        return {"split": self.anomalies.split, "baseline_split": self.baseline_split,
                "num_examples_ratio": self.num_examples_ratio,
                "measurements": self.measurements, "skipped": self.skipped}


def compare_num_examples(comparator: NumExamplesComparator | None, current: int,
                         baseline: int) -> tuple[list[Anomaly], float | None]:
    """Row-count anomalies (TFDV semantics) and the ratio ``current / baseline``.

    An empty baseline gives no ratio, so no anomaly (as in TFDV); an empty current split
    has ratio 0.
    """
    if baseline == 0:
        return [], None
    ratio = current / baseline
    if comparator is None:
        return [], ratio
    found = []
    low, high = comparator.min_fraction_threshold, comparator.max_fraction_threshold
    for code, limit, broken, word in (
            ("COMPARATOR_LOW_NUM_EXAMPLES", low, low is not None and ratio < low, "below"),
            ("COMPARATOR_HIGH_NUM_EXAMPLES", high, high is not None and ratio > high, "above")):
        if broken:
            found.append(make_anomaly(code, None, f"{current} rows against {baseline} in the "
                                  f"baseline: ratio {ratio:.6g} is {word} the threshold "
                                  f"{limit}.", count=current, fraction=ratio,
                                  details={"baseline_num_examples": baseline,
                                           "threshold": limit}))
    return found, ratio


def _missing_side(name: str, explicit: bool, current: FeatureStatistics | None) -> Anomaly:
    side, code = (("baseline", "COMPARATOR_CONTROL_DATA_MISSING") if current is not None
                  else ("current", "COMPARATOR_TREATMENT_DATA_MISSING"))
    return make_anomaly(code, name, f"feature {name!r} has no statistics in the {side} split, so "
                    f"its distribution cannot be compared.", "ERROR" if explicit else "WARNING")


def _compare_feature(result: PairComparison, name: str, comparator: FeatureComparator,
                     explicit: bool, current: FeatureStatistics | None,
                     baseline: FeatureStatistics | None) -> None:
    """Add one feature's measurements, skips and anomalies to ``result``."""
    if current is None or baseline is None:
        result.anomalies.anomalies.append(_missing_side(name, explicit, current))
        result.skipped.append({"feature": name, "measure": None, "reason": "missing on one side"})
        return
    measured = measure_feature(comparator, current, baseline)
    for m in measured:
        if m.distance is None:
            result.skipped.append({"feature": name, "measure": m.measure,
                                   "reason": f"not computable for {current.type} statistics"})
        else:
            result.measurements.append({"feature": name, **m.model_dump()})
    if explicit and measured and all(m.distance is None for m in measured):
        result.anomalies.anomalies.append(make_anomaly(
            "STATS_NOT_AVAILABLE", name, f"none of {[m.measure for m in measured]} can be "
            f"computed for {name!r} ({current.type} in the current split, {baseline.type} in "
            f"the baseline): L-infinity needs string values, Jensen-Shannon a numeric "
            f"histogram on both sides."))
    result.anomalies.anomalies.extend(
        compare_feature(name, comparator, current, baseline, "baseline"))


def compare_statistics(config: DistributionValidatorConfig, current: DatasetStatistics,
                       baseline: DatasetStatistics, baseline_split: str) -> PairComparison:
    """Compare one current split's statistics with one baseline split's.

    Args:
        config: Thresholds per feature, the default and the row-count bounds.
        current: Statistics of the current split (names the result).
        baseline: Statistics of the baseline split.
        baseline_split: The baseline split's name, recorded in the result.

    Returns:
        The :class:`PairComparison`; its ``anomalies.blessed`` is False on any ERROR.
    """
    found, ratio = compare_num_examples(config.num_examples, current.num_examples,
                                        baseline.num_examples)
    result = PairComparison(SplitAnomalies(split=current.split,
                                           num_examples=current.num_examples,
                                           anomalies=found),
                            baseline_split=baseline_split, num_examples_ratio=ratio)
    names = current.feature_names + [n for n in baseline.feature_names
                                     if current.feature(n) is None]
    for name in names:
        comparator = config.comparator(name)
        if comparator is not None:
            _compare_feature(result, name, comparator, name in config.features,
                             current.feature(name), baseline.feature(name))
    return result


def _first(input_dict, key: str):
    artifacts = input_dict.get(key) or []
    return artifacts[0] if artifacts else None


class DistributionValidatorExecutor(BaseExecutor):
    """Compares every split pair; blesses, reports and maybe halts."""

    def Do(self, input_dict, output_dict,
           exec_properties: DistributionValidatorParameters) -> None:
        statistics = input_dict["statistics"][0]
        baseline = _first(input_dict, "baseline_statistics")
        output = output_dict["anomalies"][0]
        output.set_property("span", statistics.get_property("span"))
        if baseline is None:
            self._rubber_stamp(statistics, output)
            return
        pairs = resolve_split_pairs(statistics.splits, baseline.splits,
                                    exec_properties.include_split_pairs, statistics.uri,
                                    baseline.uri)
        loaded = [(load_statistics(statistics.split_uri(c)),
                   load_statistics(baseline.split_uri(b)), b) for c, b in pairs]
        check_features(exec_properties.config, {name for cur, base, _ in loaded
                                                for name in cur.feature_names
                                                + base.feature_names})
        results = [compare_statistics(exec_properties.config, cur, base, b)
                   for cur, base, b in loaded]
        save_split_anomalies(output, [r.anomalies for r in results])
        for result in results:
            with open(os.path.join(output.split_uri(result.anomalies.split),
                                   COMPARISONS_FILE), "w") as f:
                json.dump(result.to_json(), f, indent=1)
        output.set_custom_property("split_pairs", [[c, b] for c, b in pairs])
        self._report(output, results)
        if exec_properties.halt_on_error:
            self._maybe_halt(output, results)

    def _rubber_stamp(self, statistics: ExampleStatistics, output: ExampleAnomalies) -> None:
        results = [SplitAnomalies(split=s) for s in statistics.splits]
        save_split_anomalies(output, results)  # no anomalies: every split blessed
        output.set_custom_property("no_baseline", 1)
        self._report(output, [PairComparison(r, baseline_split="") for r in results],
                     note="No baseline statistics: nothing compared, every split blessed.")

    def _maybe_halt(self, output: ExampleAnomalies, results: list[PairComparison]) -> None:
        errors = [f"{r.anomalies.split} vs {r.baseline_split}: {a.feature or 'dataset'} "
                  f"{a.code}" for r in results for a in r.anomalies.anomalies
                  if a.severity == "ERROR"]
        reason = halt_reason("DistributionValidator", errors, f"{output.uri}/{REPORT_FILE}")
        if reason:
            self.context.halt_downstream(reason)

    def _report(self, output: ExampleAnomalies, results: list[PairComparison],
                note: str = "") -> None:
        from gristmill.components.framework.anomalies_report import render_anomalies_report
        from gristmill.components.framework.html import esc, table

        pairs = ", ".join(f"{r.anomalies.split} vs {r.baseline_split}" for r in results)
        html = render_anomalies_report([r.anomalies for r in results],
                                       f"Distributions: {self.context.component_id}")
        rows = [[r.anomalies.split, r.baseline_split, m["feature"], m["measure"],
                 m["distance"], m["threshold"], "above" if m["distance"] > m["threshold"]
                 else "ok"] for r in results for m in r.measurements]
        skipped = [[r.anomalies.split, s["feature"], s["measure"] or "", s["reason"]]
                   for r in results for s in r.skipped]
        extra = (f"<p class='muted'>{esc(note or 'Current vs baseline: ' + pairs)}</p>"
                 "<h2>Measured distances</h2>"
                 + table(["split", "baseline", "feature", "measure", "distance", "threshold",
                          ""], rows, left_columns=4)
                 + (f"<h2>Skipped comparisons ({len(skipped)})</h2>"
                    + table(["split", "feature", "measure", "reason"], skipped, 4)
                    if skipped else ""))
        path = os.path.join(output.uri, REPORT_FILE)
        with open(path, "w") as f:
            f.write(html.replace("</body>", extra + "</body>"))
        self.context.attach_report(path)
        metrics = {}
        for r in results:
            split = r.anomalies.split
            metrics[f"{split}_anomalies"] = float(len(r.anomalies.anomalies))
            metrics[f"{split}_skipped_comparisons"] = float(len(r.skipped))
            if r.num_examples_ratio is not None:
                metrics[f"{split}_num_examples_ratio"] = r.num_examples_ratio
        self.context.log_metrics(metrics)
