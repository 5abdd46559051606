"""Say so when hash splitting gave a split far from its configured share.

ExampleGen assigns each row to a split by a stable hash of the whole row (or of its
partition feature), so identical rows always land in the same split. On a table with few
distinct rows (or few partition values) a split can come out empty or far from its share,
and every later component then works on a split that is not what the user configured. The
split stays as hashed (it is reproducible and leak-free), but the run says it, in the log
and on the Examples artifact (``split_warnings``), instead of leaving it to be discovered
as "no labelled examples" in the Evaluator.
"""

from __future__ import annotations

import math

#: A split whose row count is this many binomial standard deviations from its configured
#: share is reported (random hashing of distinct rows stays within ~4 almost always).
MAX_STANDARD_DEVIATIONS = 6.0
#: Below this many rows, only empty splits are reported (small samples vary a lot).
MIN_ROWS_FOR_SHARE_CHECK = 100


def split_warnings(written: dict[str, int], hash_buckets: tuple[int, ...] | None,
                   partition_feature: str | None = None) -> list[str]:
    """Messages for splits that came out empty or far from their configured share.

    Args:
        written: Rows written per output split, in the configured order.
        hash_buckets: Buckets per split, in the same order; ``None`` when the input splits
            were mirrored (no hashing happened, nothing to check).
        partition_feature: The column hashed instead of the whole row, if any.

    Returns:
        One message per suspicious split; empty when every split is plausible.
    """
    total = sum(written.values())
    if hash_buckets is None or total == 0:
        return []
    hashed = (f"partition feature {partition_feature!r}" if partition_feature
              else "the whole row")
    cause = (f"rows are assigned by a hash of {hashed}, so identical "
             f"{'values' if partition_feature else 'rows'} always share a split; this table "
             f"probably has few distinct {'values' if partition_feature else 'rows'}")
    fix = ("give ExampleGen pre-split input (input_config with one pattern per split), or a "
           "partition_feature_name with many distinct values, or add a row id column")
    shares = {split: buckets / sum(hash_buckets)
              for split, buckets in zip(written, hash_buckets, strict=True)}
    empty = [f"ExampleGen: split {split!r} is empty (expected about {total * shares[split]:.0f} "
             f"of {total} rows): {cause}. Fix: {fix}." for split, rows in written.items()
             if rows == 0]
    if empty or total < MIN_ROWS_FOR_SHARE_CHECK:
        return empty  # the other splits' excess is the same finding, said once
    messages = []
    for split, rows in written.items():
        share = shares[split]
        deviation = abs(rows - total * share) / math.sqrt(total * share * (1 - share) or 1.0)
        if deviation > MAX_STANDARD_DEVIATIONS:
            messages.append(f"ExampleGen: split {split!r} has {rows} of {total} rows "
                            f"({rows / total:.1%}), configured {share:.1%}: {cause}. "
                            f"Fix: {fix}.")
    return messages
