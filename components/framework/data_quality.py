"""Degenerate data no schema rules out: found in every split before training.

An empty split (ERROR: nothing can be trained or evaluated on it), a one-row split, and
columns with no values, no finite values or one value (WARNING: a constant label has one
class; an all-empty CSV column is typed as strings by guess). Each anomaly says the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gristmill.components.framework.statistics_model import DatasetStatistics, FeatureStatistics

if TYPE_CHECKING:
    from gristmill.components.framework.anomalies import Anomaly


def degenerate_data_anomalies(stats: DatasetStatistics) -> list[Anomaly]:
    """The degenerate-data anomalies of one split (see the module docstring)."""
    return _dataset_quality(stats) + _feature_quality(stats)


def _dataset_quality(stats: DatasetStatistics) -> list[Anomaly]:
    """Splits no model can learn or be judged from: empty, or a single row."""
    if stats.num_examples == 0:
        return [_anomaly(
            "DATASET_EMPTY_SPLIT", None, f"split {stats.split!r} has no rows: a model cannot "
            f"be trained or evaluated on it. Rows are split by a hash of their content, so a "
            f"dataset of few distinct rows (or one row) can leave a split empty. Fix: give "
            f"more (distinct) rows, or pre-split the input with input_config splits.",
            count=0)]
    if stats.num_examples == 1:
        return [_anomaly(
            "DATASET_ONE_ROW", None, f"split {stats.split!r} has one row: its statistics, "
            f"and any model or metric from it, mean nothing. Fix: give more rows.",
            "WARNING", count=1)]
    return []


def _feature_quality(stats: DatasetStatistics) -> list[Anomaly]:
    """Columns that carry no information: no values, no finite values, one value."""
    found = []
    for f in stats.features:
        numeric = f.numeric
        if f.num_present == 0:
            found.append(_anomaly(
                "FEATURE_ALL_MISSING", f.name, f"column {f.name!r} is missing in all "
                f"{f.num_missing} rows; its type ({f.type}, {f.arrow_type}) is a guess (an "
                f"empty CSV column reads as strings). Fix: drop the column, or fill it at "
                f"the source.", "WARNING", count=f.num_missing))
        elif numeric is not None and numeric.min is None:
            found.append(_anomaly(
                "FEATURE_NO_FINITE_VALUES", f.name, f"column {f.name!r} has no finite value "
                f"({numeric.num_nan} NaN, {numeric.num_pos_inf + numeric.num_neg_inf} +-Inf). "
                f"Fix: drop the column, or fix the source.", "WARNING",
                count=f.num_present))
        elif stats.num_examples > 1 and _is_constant(f):
            found.append(_anomaly(
                "FEATURE_CONSTANT", f.name, f"column {f.name!r} has one distinct value in "
                f"split {stats.split!r}: it carries no information, and as a label (one "
                f"class) nothing can be learned from it. Fix: drop it, or check how the data "
                f"was selected.", "WARNING", count=f.num_present))
    return found


def _is_constant(f: FeatureStatistics) -> bool:
    if f.numeric is not None:
        n = f.numeric
        return n.min is not None and n.min == n.max and not (n.num_nan or n.num_pos_inf
                                                              or n.num_neg_inf)
    if f.string is not None:
        return f.string.unique_is_exact and f.string.unique == 1
    return False


def _anomaly(*args, **kwargs) -> Anomaly:
    from gristmill.components.framework.anomalies import make_anomaly

    return make_anomaly(*args, **kwargs)
