"""Accumulators of ``scale_to_gaussian`` (L-moments) and ``tfidf`` (document frequencies).

:class:`LMoments` follows tf.Transform's ``_tukey_parameters``: each batch contributes the
unbiased sample L-moments of its present values with the number of samples, pairs, triplets and
quadruplets they were estimated from, batches merge by those counts, and the Tukey HH
parameters (``hl``, ``hr``) are solved from the L-skewness and L-kurtosis by TFT's
alternating bisection, so a column fitted here gets TFT's ``loc``, ``scale``, ``hl`` and
``hr`` (like TFT's, the estimate depends slightly on how rows are batched).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow.compute as pc

from gristmill.engine.transform_kernels import as_array, as_float

_GAUSSIAN_L_KURTOSIS = 0.1226017  # below it a column is treated as Gaussian (h = 0)


class LMoments:
    """The first four L-moments with their sample/pair/triplet/quadruplet counts."""

    KIND = "l_moments"

    def __init__(self, params: dict[str, Any] | None = None):
        self.counts = np.zeros(4)
        self.moments = np.zeros(4)
        self.missing = 0

    def add(self, values: list[Any]) -> None:
        """Fold in one batch of the input column (missing values are counted, not used)."""
        x = as_float(values[0])
        ok = np.isfinite(x)
        self.missing += int((~ok).sum())
        other = LMoments()
        other.counts, other.moments = batch_l_moments(np.sort(x[ok]))
        self.merge(other)

    def merge(self, other: LMoments) -> None:
        """Fold in another accumulator (count-weighted, as TFT's ``_LMomentsCombiner``)."""
        self.missing += other.missing
        a, b = (self, other) if self.counts[0] >= other.counts[0] else (other, self)
        if b.counts[0] == 0:
            self.counts, self.moments = a.counts.copy(), a.moments.copy()
            return
        total = a.counts + b.counts
        share = np.divide(b.counts, total, out=np.zeros(4), where=total > 0)
        self.moments = a.moments + share * (b.moments - a.moments)
        self.counts = total

    def tukey_parameters(self) -> dict[str, float]:
        """``loc``, ``scale``, ``hl``, ``hr`` such that ``(x - loc) / scale`` is Tukey HH."""
        l1, l2, l3, l4 = self.moments
        valid_scale = l2 > 0
        valid_kurtosis = valid_scale and self.counts[3] > 0
        skew_kurt = np.array([l3 / l2, l4 / l2]) if valid_kurtosis else np.zeros(2)
        hl, hr = tukey_hh_params(skew_kurt)
        hh_mean, hh_scale = tukey_hh_l_mean_and_scale(hl, hr)
        scale = l2 / hh_scale if valid_scale else 1.0
        return {"loc": float(l1 - scale * hh_mean), "scale": float(scale), "hl": float(hl),
                "hr": float(hr)}

    def to_json(self) -> dict[str, Any]:
        """JSON form (cache files)."""
        return {"counts": self.counts.tolist(), "moments": self.moments.tolist(),
                "missing": self.missing}

    def load_json(self, d: dict[str, Any]) -> None:
        """Inverse of :meth:`to_json`."""
        self.counts, self.moments = np.asarray(d["counts"]), np.asarray(d["moments"])
        self.missing = d["missing"]

    def summary(self) -> dict[str, Any]:
        """What the human-readable plan shows."""
        return {"count": int(self.counts[0]), "missing": self.missing,
                **self.tukey_parameters()}


def batch_l_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts (samples, pairs, triplets, quadruplets) and L-moments of sorted ``x``."""
    n = float(len(x))
    counts = np.array([n, n * (n - 1) / 2, n * (n - 1) * (n - 2) / 6,
                       n * (n - 1) * (n - 2) * (n - 3) / 24])
    if not len(x):
        return counts, np.zeros(4)
    up = np.arange(len(x), dtype=np.float64)  # values below each sorted position
    down = n - 1 - up  # values above it
    factors = [
        np.full(len(x), 1.0 / n),
        (up - down) / (2 * counts[1] if n > 1 else 1.0),
        (up * (up - 1) - 4 * up * down + down * (down - 1)) / (6 * counts[2] if n > 2 else 1.0),
        (up * (up - 1) * (up - 2) - 9 * up * (up - 1) * down + 9 * up * down * (down - 1)
         - down * (down - 1) * (down - 2)) / (24 * counts[3] if n > 3 else 1.0),
    ]
    return counts, np.array([float((x * f).sum()) for f in factors])


def tukey_hh_l_mean_and_scale(hl: float, hr: float) -> tuple[float, float]:
    """L-mean and L-scale of the Tukey HH distribution (Headrick & Pant, 2012)."""
    c = 1.0 / math.sqrt(2.0 * math.pi)
    mean = c * (1.0 / (hl - 1.0) + 1.0 / (1.0 - hr))
    scale = c * ((math.sqrt(2.0 - hl) + math.sqrt(2.0 - hr) - hl * math.sqrt(2.0 - hl)
                  - hr * math.sqrt(2.0 - hr))
                 / ((hl - 1.0) * (hr - 1.0) * math.sqrt((hl - 2.0) * (hr - 2.0))))
    return mean, scale


def _skewness_and_kurtosis(hl: float, hr: float) -> np.ndarray:
    """L-skewness and L-kurtosis of the Tukey HH distribution (Headrick & Pant, 2012)."""
    def skew_num(h1, h2):
        return 12 * np.sqrt(2.0 - h1) * (h2 - 2.0) * (h2 - 1.0) * np.arctan(1 / np.sqrt(2 - h1))

    def side(h):
        return h * np.sqrt(2.0 - h) - np.sqrt(2.0 - h)

    with np.errstate(invalid="ignore", divide="ignore"):
        skew = (skew_num(hl, hr) - np.pi * (hl - hr) * (hl - 2.0) * (hr - 2.0)
                - skew_num(hr, hl)) / (2 * np.pi * np.sqrt((hl - 2.0) * (hr - 2.0))
                                       * (side(hl) + side(hr)))
        root = np.sqrt((hl - 4.0) * (hl - 2.0) * (hl - 1.0) * (hr - 2.0))
        part1 = hr * root - 2.0 * np.sqrt((hl - 4.0) * (hl - 1.0))
        part2 = hl * (hl - 3.0) * np.sqrt((hl - 4.0) * (hl - 1.0)) + root
        part3 = (30.0 * (hl - 1.0) * np.sqrt((hl - 4.0) * (hl - 2.0) * (hr - 2.0) / (hl - 1.0))
                 * (hr - 1.0) * np.arctan(np.sqrt(1.0 + 2.0 / (hl - 4.0))))
        part4 = (30.0 * (hl - 2) * np.sqrt((hl - 4.0) * (hl - 1.0)) * (hl - 1.0)
                 * np.arctan(np.sqrt(1.0 + 2.0 / (hr - 4.0))))
        den = np.pi * np.sqrt((4.0 - hl) * (2.0 - hl) * (1.0 - hl)) * (side(hl) + side(hr))
        kurt = (6.0 * np.pi * (part1 - part2) + part3 + part4) / den
    return np.array([skew, kurt])


def _bisect(error, low: float, high: float) -> tuple[float, float]:
    """TFT's bisection: at most 11 halvings, stopping early when the error or step is tiny."""
    for step in range(1, 12):
        mid = (low + high) / 2.0
        err = error(mid)
        if err < 0.0:
            low = mid
        else:
            high = mid
        if step > 10 or abs(err) < 1e-6 or high - low < 1e-6:
            break
    return low, high


def tukey_hh_params(skew_kurt: np.ndarray) -> tuple[float, float]:
    """``(hl, hr)`` of the Tukey HH distribution with this L-skewness and L-kurtosis."""
    target = np.array(skew_kurt, np.float64)
    if target[1] < _GAUSSIAN_L_KURTOSIS:
        return 0.0, 0.0
    swap = target[0] < 0.0
    target[0] = abs(target[0])
    target[1] = min(target[1], 1.0 - 1e-5)

    def errors(h: float, delta: float) -> np.ndarray:
        return _skewness_and_kurtosis(h - delta, h) - target

    h0 = 3.0 - 1.0 / np.cos(np.pi / 15.0 * (target[1] - 6.0))
    params, lower, upper = np.array([h0, 0.0]), np.array([h0, 0.0]), np.array([1 - 1e-7, h0])
    previous = np.zeros(2)
    for _ in range(20):
        _alternate(params, lower, upper, errors)
        done = np.all(np.abs(errors(*params)) < 1e-6) or \
            np.all(np.abs(params - previous) < 1e-6)
        previous = params.copy()
        if done:
            break
    hl, hr = params[0] - params[1], params[0]
    return (hr, hl) if swap else (hl, hr)


def _alternate(params: np.ndarray, lower: np.ndarray, upper: np.ndarray, errors) -> None:
    """One round of TFT's search: fit L-skewness by ``delta``, L-kurtosis by ``h``."""
    def skew_err(d):
        return errors(params[0], d)[0]

    def kurt_err(h):
        return errors(h, params[1])[1]

    bounded = skew_err(upper[1]) > 0.0
    if bounded:
        params[1] = upper[1] = _bisect(skew_err, lower[1], upper[1])[1]
    else:
        params[1] = lower[1] = upper[1]
    low_h, high_h = _bisect(kurt_err, lower[0], upper[0])
    if bounded:
        params[0] = upper[0] = high_h
        params[1] = lower[1] = _bisect(skew_err, lower[1], upper[1])[0]
        params[0] = lower[0] = _bisect(kurt_err, lower[0], upper[0])[0]
    else:
        params[0] = lower[0] = low_h
        upper[1] = low_h


class DocumentFrequency:
    """Rows seen and, per id in ``[0, vocab_size)``, the rows containing it (tfidf's idf)."""

    KIND = "document_frequency"

    def __init__(self, params: dict[str, Any] | None = None):
        self.vocab_size = int((params or {}).get("vocab_size", 1))
        self.documents = 0
        self.df = np.zeros(self.vocab_size, np.int64)

    def add(self, values: list[Any]) -> None:
        """Fold in one batch of id lists (every row is a document, a missing one empty)."""
        lists = as_array(values[0])
        self.documents += len(lists)
        ids = np.mod(pc.list_flatten(lists).to_numpy(zero_copy_only=False).astype(np.int64),
                     self.vocab_size)
        rows = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64)
        terms = np.unique(rows * self.vocab_size + ids) % self.vocab_size
        self.df += np.bincount(terms, minlength=self.vocab_size)

    def merge(self, other: DocumentFrequency) -> None:
        """Fold in another accumulator of the same analyzer."""
        self.documents += other.documents
        self.df += other.df

    def idf(self, smooth: bool) -> list[float]:
        """TFT's idf per id: ``1 + log((N + 1) / (1 + df))`` (smooth) or ``1 + log(N / df)``."""
        n, df = float(self.documents), self.df.astype(np.float64)
        with np.errstate(divide="ignore"):
            idf = np.log((n + 1.0) / (1.0 + df)) + 1 if smooth else np.log(n / df) + 1
        return [float(v) if math.isfinite(v) else None for v in idf]

    def to_json(self) -> dict[str, Any]:
        """JSON form (cache files)."""
        return {"vocab_size": self.vocab_size, "documents": self.documents,
                "df": self.df.tolist()}

    def load_json(self, d: dict[str, Any]) -> None:
        """Inverse of :meth:`to_json`."""
        self.vocab_size, self.documents = d["vocab_size"], d["documents"]
        self.df = np.asarray(d["df"], np.int64)

    def summary(self) -> dict[str, Any]:
        """What the human-readable plan shows."""
        return {"documents": self.documents, "ids_seen": int((self.df > 0).sum())}


ACCUMULATORS = (LMoments, DocumentFrequency)
