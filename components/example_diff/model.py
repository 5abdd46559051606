"""The ExampleDiff result of one split pair: pairing figures and per-feature skew (pydantic).

Written as ``SplitPair-<test>_<base>/diff.json`` by :mod:`gristmill.components.example_diff`.
Field names follow TFDV's ``FeatureSkew`` and ``MatchStats`` with "base" for the baseline
examples and "test" for the examples under test.
"""

from __future__ import annotations

import math
import os
from typing import Any, Literal

import pydantic

DIFF_FILE = "diff.json"


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class MatchStats(_Model):
    """How the rows of the two datasets were paired on the identifier features.

    Every row of each dataset lands in exactly one of: ``*_missing_id_rows`` (an identifier
    is null), ``*_excluded_duplicate_rows`` (its identifier occurs more than once in either
    dataset and duplicates are not allowed), ``*_unpaired_rows`` (its identifier is absent
    from the other dataset) and ``*_paired_rows``.

    Attributes:
        base_rows / test_rows: Rows read.
        base_missing_id_rows / test_missing_id_rows: Rows with a null identifier feature.
        identifiers: Distinct identifiers over both datasets.
        base_duplicate_ids / test_duplicate_ids: Distinct identifiers occurring more than
            once in that dataset.
        base_duplicate_id_rows / test_duplicate_id_rows: Rows carrying those identifiers.
        base_excluded_duplicate_rows / test_excluded_duplicate_rows: Rows left out of pairing
            because their identifier is duplicated in either dataset (only when
            ``allow_duplicate_identifiers`` is off).
        ids_only_in_base / ids_only_in_test: Distinct identifiers with no partner.
        base_unpaired_rows / test_unpaired_rows: Rows with no partner.
        base_paired_rows / test_paired_rows: Rows that formed at least one pair.
        pairs: Compared (base, test) pairs; with duplicates allowed, every combination of
            an identifier's base and test rows is one pair.
        pairs_with_diff: Pairs in which at least one compared feature differs.
    """

    base_rows: int = 0
    test_rows: int = 0
    base_missing_id_rows: int = 0
    test_missing_id_rows: int = 0
    identifiers: int = 0
    base_duplicate_ids: int = 0
    test_duplicate_ids: int = 0
    base_duplicate_id_rows: int = 0
    test_duplicate_id_rows: int = 0
    base_excluded_duplicate_rows: int = 0
    test_excluded_duplicate_rows: int = 0
    ids_only_in_base: int = 0
    ids_only_in_test: int = 0
    base_unpaired_rows: int = 0
    test_unpaired_rows: int = 0
    base_paired_rows: int = 0
    test_paired_rows: int = 0
    pairs: int = 0
    pairs_with_diff: int = 0


class SkewSample(_Model):
    """One pair whose values of a feature differ.

    Attributes:
        kind: ``mismatch`` (both present, unequal), ``base_only`` or ``test_only``.
        identifiers: Identifier feature -> value of the pair.
        base: The baseline value (``None`` when absent); NaN and infinities as strings.
        test: The test value, likewise.
    """

    kind: Literal["mismatch", "base_only", "test_only"]
    identifiers: dict[str, Any]
    base: Any = None
    test: Any = None


class FeatureDiff(_Model):
    """Skew of one feature over all pairs (TFDV ``FeatureSkew``).

    Attributes:
        name: Column name.
        base_type / test_type: Arrow type in each dataset (``None``: column absent there).
        type_mismatch: The types are of different kinds (e.g. int64 vs string); every pair
            with both values present then counts as a mismatch.
        base_count / test_count: Pairs in which the value is present on that side.
        match_count: Pairs with both present and equal (floats: equal, both NaN, or within
            the relative ``float_tolerance``).
        mismatch_count: Pairs with both present and different.
        base_only / test_only: Pairs with the value present only on that side.
        diff_count: ``mismatch_count + base_only + test_only``.
        samples: Up to ``skew_sample_size`` differing pairs, chosen by identifier hash (the
            same on every run and runner).
    """

    name: str
    base_type: str | None = None
    test_type: str | None = None
    type_mismatch: bool = False
    base_count: int = 0
    test_count: int = 0
    match_count: int = 0
    mismatch_count: int = 0
    base_only: int = 0
    test_only: int = 0
    diff_count: int = 0
    samples: list[SkewSample] = []


class SplitPairDiff(_Model):
    """The diff of one (test split, base split) pair.

    Attributes:
        test_split: Split of ``examples``.
        base_split: Split of ``baseline_examples``.
        identifier_features: Columns the rows were paired on.
        ignored_features: Columns left out of the comparison (besides the identifiers).
        allow_duplicate_identifiers: Whether duplicated identifiers were paired.
        float_tolerance: Relative tolerance of float comparisons.
        match_stats: See :class:`MatchStats`.
        features: One :class:`FeatureDiff` per compared column, by name.
    """

    test_split: str
    base_split: str
    identifier_features: list[str]
    ignored_features: list[str] = []
    allow_duplicate_identifiers: bool = False
    float_tolerance: float = 0.0
    match_stats: MatchStats = MatchStats()
    features: list[FeatureDiff] = []

    @property
    def pair_name(self) -> str:
        """``<test>_<base>``, the suffix of the output directory."""
        return split_pair_name(self.test_split, self.base_split)

    def feature(self, name: str) -> FeatureDiff:
        """The :class:`FeatureDiff` of ``name``; KeyError if it was not compared."""
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(f"feature {name!r} was not compared; compared: "
                       f"{[f.name for f in self.features]}")

    @property
    def features_with_diff(self) -> list[FeatureDiff]:
        """Features with at least one differing pair, most differences first."""
        return sorted((f for f in self.features if f.diff_count or f.type_mismatch),
                      key=lambda f: (-f.diff_count, f.name))


def split_pair_name(test_split: str, base_split: str) -> str:
    """``<test>_<base>``: the directory suffix of one split pair."""
    return f"{test_split}_{base_split}"


def split_pair_uri(uri: str, test_split: str, base_split: str) -> str:
    """``<uri>/SplitPair-<test>_<base>``: where one pair's ``diff.json`` lives."""
    return os.path.join(uri, f"SplitPair-{split_pair_name(test_split, base_split)}")


def save_diff(diff: SplitPairDiff, directory: str) -> str:
    """Write ``diff`` as indented JSON to ``<directory>/diff.json``; return the path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, DIFF_FILE)
    with open(path, "w") as f:
        f.write(diff.model_dump_json(indent=2))
    return path


def load_diff(directory: str) -> SplitPairDiff:
    """Read ``<directory>/diff.json`` written by :func:`save_diff`."""
    with open(os.path.join(directory, DIFF_FILE)) as f:
        return SplitPairDiff.model_validate_json(f.read())


def jsonable(value):
    """A JSON-safe form of an Arrow ``as_py()`` value (NaN/inf and bytes as strings)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return "0x" + value.hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _pair_section(diff: SplitPairDiff) -> str:
    from gristmill.components.framework.html import esc, table

    stats = diff.match_stats
    rows = [[name, getattr(stats, f"base_{name}"), getattr(stats, f"test_{name}")]
            for name in ("rows", "missing_id_rows", "duplicate_ids", "duplicate_id_rows",
                         "excluded_duplicate_rows", "unpaired_rows", "paired_rows")]
    rows.append(["ids_without_partner", stats.ids_only_in_base, stats.ids_only_in_test])
    header = (f"<h2>examples[{esc(diff.test_split)}] vs baseline[{esc(diff.base_split)}] "
              f"<span class='muted'>{stats.pairs:,} pairs on {esc(diff.identifier_features)}, "
              f"{stats.pairs_with_diff:,} with a difference</span></h2>")
    features = table(
        ["feature", "base type", "test type", "base", "test", "match", "mismatch", "base only",
         "test only", "diff"],
        [[f.name, f.base_type, ("TYPE MISMATCH " if f.type_mismatch else "") + str(f.test_type),
          f.base_count, f.test_count, f.match_count, f.mismatch_count, f.base_only, f.test_only,
          f.diff_count] for f in sorted(diff.features, key=lambda f: (-f.diff_count, f.name))],
        left_columns=3)
    samples = "".join(
        f"<h3>{esc(f.name)}: sample differences</h3>" + table(
            ["kind", "identifiers", "base", "test"],
            [[s.kind, s.identifiers, repr(s.base), repr(s.test)] for s in f.samples],
            left_columns=4)
        for f in diff.features_with_diff if f.samples)
    return header + table(["rows", "base", "test"], rows) + features + samples


def render_diff_report(diffs: list[SplitPairDiff], title: str = "Example diff") -> str:
    """Render the diffs of several split pairs as one self-contained HTML page."""
    from gristmill.components.framework.html import page, table

    summary = table(["test split", "base split", "pairs", "pairs with diff",
                     "features with diff", "unpaired base rows", "unpaired test rows"],
                    [[d.test_split, d.base_split, d.match_stats.pairs,
                      d.match_stats.pairs_with_diff, len(d.features_with_diff),
                      d.match_stats.base_unpaired_rows, d.match_stats.test_unpaired_rows]
                     for d in diffs], left_columns=2)
    return page(title, summary + "".join(_pair_section(d) for d in diffs))
