"""scale_to_gaussian's estimator against tf.Transform's published reference values, the
L-moment accumulator against the textbook formula, and the refusals of the token-list ops."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

import gristmill.components.transform_ops as tft
from gristmill.components.transform.analysis import fit_in_memory
from gristmill.components.transform.text_analyzers import (
    LMoments,
    _skewness_and_kurtosis,
    tukey_hh_l_mean_and_scale,
    tukey_hh_params,
)
from gristmill.components.transform.tracing import trace
from gristmill.engine.errors import ConfigError as EngineConfigError
from gristmill.engine.transform_fn import FittedTransform
from gristmill.engine.transform_text import inverse_tukey_hh, lambert_w
from gristmill.metadata.errors import ConfigError

pytestmark = pytest.mark.unit

# Expected figures from tensorflow_transform's gaussianization_test.py (TFT computes them in
# float32, hence the tolerances).


def test_tukey_hh_moments_match_tft():
    assert tukey_hh_l_mean_and_scale(0.1, 0.2) == pytest.approx((0.05540865, 0.69327380),
                                                                 rel=1e-6)
    assert tukey_hh_l_mean_and_scale(0.0, 0.0) == pytest.approx((0.0, 0.5641896), rel=1e-6)
    assert tukey_hh_l_mean_and_scale(0.7, 0.3) == pytest.approx((-0.75989, 1.6034254),
                                                                rel=1e-5)
    assert list(_skewness_and_kurtosis(0.1, 0.2)) == pytest.approx([0.05989155, 0.21460720],
                                                                   rel=1e-6)
    assert list(_skewness_and_kurtosis(0.8, 0.2)) == pytest.approx([-0.6249933, 0.66664696],
                                                                   rel=1e-5)


@pytest.mark.parametrize("skew_kurt, expected", [
    ([0.05989154619056726, 0.21460719619685548], [0.1, 0.2]),
    ([-0.05989154619056726, 0.21460719619685548], [0.2, 0.1]),
    ([0.1, 0.2], [0.03056329, 0.20497137]),
    ([0.8, 0.99], [0.9635793, 0.99589026]),
    ([0.6, 0.7], [0.3535486, 0.82437974]),
    ([0.7, 0.5], [0.0, 0.65736556]),  # not reachable by Tukey HH: TFT's closest solution
    ([1.0, 0.5], [0.0, 0.65736556]),
    ([0.5, 1.5], [0.9999859847861059, 0.9999950120303265]),
    ([0.0, 0.1], [0.0, 0.0]),  # lighter tails than a Gaussian: h = 0
])
def test_tukey_hh_params_match_tft(skew_kurt, expected):
    np.testing.assert_allclose(tukey_hh_params(np.array(skew_kurt)), expected, atol=2e-5)


def test_lambert_w_and_inverse_tukey_match_tft():
    np.testing.assert_allclose(
        lambert_w(np.linspace(0.0, 10, 8)),
        [0., 0.70550971, 1.02506557, 1.24009733, 1.40379211, 1.53656406, 1.6485427, 1.745528],
        rtol=1e-6)
    assert lambert_w(np.array([10.0 * math.exp(10.0)]))[0] == pytest.approx(10.0, rel=1e-6)
    u = np.linspace(-5.0, 5.0, 20)
    x = np.where(u > 0, u * np.exp(0.5 * 2.0 * u * u), u * np.exp(0.5 * 1.0 * u * u))
    np.testing.assert_allclose(inverse_tukey_hh(x, 1.0, 2.0), u, rtol=1e-6, atol=1e-9)
    assert np.isnan(inverse_tukey_hh(np.array([np.nan]), 0.1, 0.2)[0])  # missing stays missing


def _textbook_l_moments(x: np.ndarray) -> list[float]:
    """Sample L-moments from probability-weighted moments b0..b3 (Hosking, 1990)."""
    x, n = np.sort(x), len(x)
    i = np.arange(1, n + 1)
    b0 = x.mean()
    b1 = ((i - 1) / (n - 1) * x).mean()
    b2 = ((i - 1) * (i - 2) / ((n - 1) * (n - 2)) * x).mean()
    b3 = ((i - 1) * (i - 2) * (i - 3) / ((n - 1) * (n - 2) * (n - 3)) * x).mean()
    return [b0, 2 * b1 - b0, 6 * b2 - 6 * b1 + b0, 20 * b3 - 30 * b2 + 12 * b1 - b0]


def test_l_moments_accumulator():
    rng = np.random.default_rng(3)
    x = rng.lognormal(size=500)
    one = LMoments()
    one.add([pa.array(np.append(x, np.nan))])
    np.testing.assert_allclose(one.moments, _textbook_l_moments(x), rtol=1e-10)
    assert one.missing == 1 and one.counts[0] == 500
    # Batches merge by their sample/pair/... counts (TFT's combiner), in any order.
    a, b = LMoments(), LMoments()
    a.add([pa.array(x[:300])])
    b.add([pa.array(x[300:])])
    ab, ba = LMoments(), LMoments()
    ab.merge(a), ab.merge(b), ba.merge(b), ba.merge(a)
    np.testing.assert_allclose(ab.moments, ba.moments, rtol=1e-12)
    share = b.counts / (a.counts + b.counts)
    np.testing.assert_allclose(ab.moments, a.moments + share * (b.moments - a.moments))


def _fit(fn, table: pa.Table) -> FittedTransform:
    types = {f.name: "string" if pa.types.is_string(f.type) else "float" for f in table.schema}
    return FittedTransform(*fit_in_memory(trace(fn, types), [table]))


def test_scale_to_gaussian_of_a_constant_column_is_not_nan():
    ft = _fit(lambda i: {"g": tft.scale_to_gaussian(i["x"])}, pa.table({"x": [2.0] * 5}))
    assert ft.transform(pa.table({"x": [2.0, 3.0, None]})).column("g").to_pylist() == \
        [0.0, 1.0, None]


def test_split_edge_cases():
    ft = _fit(lambda i: {"w": tft.split(i["s"]), "c": tft.split(i["s"], ",", maxsplit=1),
                         "n": tft.word_count(tft.split(i["s"]))},
              pa.table({"s": ["a  b\tc ", "", "   ", None, "x,y,z"]}))
    out = ft.transform(pa.table({"s": ["a  b\tc ", "", "   ", None, "x,y,z"]}))
    assert out.column("w").to_pylist() == [["a", "b", "c"], [], [], None, ["x,y,z"]]
    assert out.column("c").to_pylist() == [["a  b\tc "], [""], ["   "], None, ["x", "y,z"]]
    assert out.column("n").to_pylist() == [3, 0, 0, None, 1]


def test_list_ops_refuse_wrong_inputs():
    table = {"s": "string", "x": "float"}
    with pytest.raises(ConfigError, match=r"output 'w': split expected a string input, got "
                                          r"float \(x\)"):
        trace(lambda i: {"w": tft.split(i["x"])}, table)
    with pytest.raises(ConfigError, match=r"ngrams expected a token list input, got string"):
        trace(lambda i: {"w": tft.ngrams(i["s"], (1, 2), " ")}, table)
    with pytest.raises(ConfigError, match=r"invalid ngram_range \(2, 1\)"):
        trace(lambda i: {"w": tft.ngrams(tft.split(i["s"]), (2, 1), " ")}, table)
    with pytest.raises(ConfigError, match=r"scale_to_z_score expected a float or int input, "
                                          r"got token list"):
        trace(lambda i: {"w": tft.scale_to_z_score(tft.split(i["s"]))}, table)
    with pytest.raises(ConfigError, match=r"tfidf expected a token id list input"):
        trace(lambda i: {"w": tft.tfidf(tft.split(i["s"]), 10)[1]}, table)
    with pytest.raises(ConfigError, match=r"vocab_size must be a positive integer"):
        trace(lambda i: {"w": tft.tfidf(tft.compute_and_apply_vocabulary(
            tft.split(i["s"])), 0)[1]}, table)
    with pytest.raises(ConfigError, match=r"scale_to_gaussian expected a float or int "
                                          r"input, got string"):
        trace(lambda i: {"w": tft.scale_to_gaussian(i["s"])}, table)


def test_torch_module_refuses_a_step_that_reads_a_list():
    """A plan (hand-edited, or from a future op) whose torch step reads a token list is
    refused when the module is built, naming both steps; it is never silently wrong."""
    from gristmill.engine.transform_torch import build_torch_module

    ft = _fit(lambda i: {"n": tft.scale_to_z_score(tft.word_count(tft.split(i["s"])))},
              pa.table({"s": ["a b", "c", "d e f"]}))
    plan = ft.plan
    z = next(s for s in plan["steps"] if s["op"] == "scale_to_z_score")
    split_step = next(s for s in plan["steps"] if s["op"] == "split")
    z["args"] = [split_step["id"]]  # the z-score now reads the token list itself
    with pytest.raises(EngineConfigError, match=r"scale_to_z_score.*reads the token list "
                                                r"split\(s\) \(split\).*cannot carry"):
        build_torch_module(FittedTransform(plan, ft.vocabularies))


def test_token_names_are_offered_now():
    for name in ("split", "ngrams", "bag_of_words", "tfidf", "word_count",
                 "scale_to_gaussian"):
        assert hasattr(tft, name), name
