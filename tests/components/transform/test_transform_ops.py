"""Transform ops: tracing, type errors, analyzer values and accumulators (no Beam)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

import gristmill.components.transform_ops as gt
from gristmill.components.transform.analysis import fit_in_memory
from gristmill.components.transform.analyzers import (
    Counts,
    Moments,
    Quantiles,
    accumulator_from_json,
)
from gristmill.components.transform.compiler import num_phases, raw_type
from gristmill.components.transform.tracing import trace
from gristmill.engine.transform_fn import FittedTransform
from gristmill.metadata.errors import ConfigError

pytestmark = pytest.mark.unit


def table() -> pa.Table:
    rng = np.random.default_rng(7)
    n = 400
    x = rng.normal(50, 10, n)
    return pa.table({
        "x": pa.array(x, mask=rng.random(n) < 0.1),
        "k": pa.array(rng.choice(["a", "b", "c"], n)),
        "s": pa.array(rng.choice(["red", "green", "blue", "rare\nline"], n,
                                 p=[0.5, 0.3, 0.15, 0.05])),
        "i": pa.array(rng.integers(0, 5, n)),
    })


def fit(fn, data: pa.Table | None = None, **kw):
    data = data if data is not None else table()
    traced = trace(fn, {f.name: raw_type(f.type) for f in data.schema}, kw.get("config"))
    plan, vocabs = fit_in_memory(traced, [data.slice(0, 150), data.slice(150)])
    return traced, FittedTransform(plan, vocabs), data


def test_analyzer_arithmetic_equals_z_score():
    def fn(inputs):
        x = inputs["x"]
        return {"manual": (x - gt.mean(x)) / gt.std(x), "z": gt.scale_to_z_score(x),
                "neg": -x + 1}

    traced, ft, data = fit(fn)
    assert len(traced.graph.analyzers) == 1  # mean and std share one accumulator
    out = ft.transform(data)
    np.testing.assert_allclose(out.column("manual").to_numpy(zero_copy_only=False),
                               out.column("z").to_numpy(zero_copy_only=False), rtol=1e-6)
    x = data.column("x").to_numpy(zero_copy_only=False)
    z = out.column("z").to_numpy(zero_copy_only=False)
    np.testing.assert_allclose(z, (x - np.nanmean(x)) / np.nanstd(x), rtol=1e-5)
    assert out.column("neg").to_pylist()[1] == pytest.approx(1 - x[1])


def test_vocabulary_options_and_unwritable_tokens():
    def fn(inputs):
        return {"top2": gt.compute_and_apply_vocabulary(inputs["s"], top_k=2),
                "freq": gt.compute_and_apply_vocabulary(inputs["s"], frequency_threshold=40,
                                                        num_oov_buckets=0, default_value=-7),
                "static": gt.apply_vocabulary(inputs["s"], ["blue", "red"])}

    _, ft, data = fit(fn)
    names = [s["params"]["vocabulary"] for s in ft.steps]
    assert ft.vocabularies[names[0]] == ["red", "green"]
    assert "rare\nline" not in ft.vocabularies[names[1]]  # cannot be written one per line
    assert ft.vocabularies[names[2]] == ["blue", "red"]
    out = ft.transform(pa.table({"s": ["red", "green", "blue", "rare\nline", None]}))
    assert out.column("top2").to_pylist() == [0, 1, 2, 2, 2]
    assert out.column("freq").to_pylist() == [0, 1, 2, -7, -7]
    assert out.column("static").to_pylist() == [1, 2, 0, 2, 2]


def test_vocabulary_of_a_bucketized_column_needs_two_passes():
    def fn(inputs):
        b = gt.bucketize(inputs["x"], 4)
        return {"ids": gt.compute_and_apply_vocabulary(b),
                "zz": gt.scale_to_z_score(gt.scale_to_z_score(inputs["x"]))}

    traced, ft, data = fit(fn)
    assert num_phases(traced) == 2
    out = ft.transform(data)
    assert set(out.column("ids").to_pylist()) <= set(range(6))
    zz = out.column("zz").to_numpy(zero_copy_only=False)
    assert np.nanmean(zz) == pytest.approx(0.0, abs=1e-6)
    assert np.nanstd(zz) == pytest.approx(1.0, abs=1e-5)


def test_per_key_scaling_uses_each_keys_statistics():
    def fn(inputs):
        return {"z": gt.scale_to_z_score_per_key(inputs["x"], inputs["k"]),
                "mm": gt.scale_to_0_1_per_key(inputs["x"], inputs["k"])}

    _, ft, data = fit(fn)
    out = ft.transform(data)
    x, k = data.column("x").to_numpy(zero_copy_only=False), np.array(data.column("k"))
    z, mm = (out.column(c).to_numpy(zero_copy_only=False) for c in ("z", "mm"))
    for key in "abc":
        rows = (k == key) & ~np.isnan(x)
        np.testing.assert_allclose(z[rows], (x[rows] - x[rows].mean()) / x[rows].std(),
                                   rtol=1e-5)
        assert mm[rows].min() == pytest.approx(0.0) and mm[rows].max() == pytest.approx(1.0)
    unseen = ft.transform(pa.table({"x": [50.0], "k": ["zzz"]})).column("z").to_pylist()[0]
    assert unseen == pytest.approx((50 - np.nanmean(x)) / np.nanstd(x), rel=1e-5)


def test_histograms_counts_and_custom_config():
    hist = {}

    def fn(inputs, custom_config):
        hist["num"] = gt.histogram(inputs["x"], boundaries=[40.0, 60.0])
        hist["cat"] = gt.histogram(inputs["k"])
        return {"x": gt.clip(inputs["x"], max_value=custom_config["cap"]),
                "med": gt.clip(inputs["x"], min_value=gt.quantiles(inputs["x"], 2)[0]),
                "n": inputs["x"] * 0 + gt.count(inputs["x"])}

    _, ft, data = fit(fn, config={"cap": 55.0})
    summaries = {a["label"]: a for a in ft.plan["analyzers"]}
    x = data.column("x").to_numpy(zero_copy_only=False)
    x = x[~np.isnan(x)]
    assert summaries["histogram(x)"]["counts"] == [int((x < 40).sum()),
                                                   int(((x >= 40) & (x < 60)).sum()),
                                                   int((x >= 60).sum())]
    assert summaries["counts(k)"]["distinct"] == 3
    out = ft.transform(data)
    assert np.nanmax(out.column("x").to_numpy(zero_copy_only=False)) == 55.0
    assert out.column("n").to_pylist()[0] == len(x)
    median = np.nanmin(out.column("med").to_numpy(zero_copy_only=False))
    assert abs(np.mean(x < median) - 0.5) < 0.02


def test_type_errors_name_the_output_the_op_and_the_types():
    def fn(inputs):
        return {"ok": inputs["x"], "bad": gt.log1p(gt.compute_and_apply_vocabulary(inputs["s"]))
                + gt.bucketize(inputs["k"], 3)}

    with pytest.raises(ConfigError, match=r"output 'bad': bucketize expected a float or int "
                                          r"input, got string \(k\)"):
        fit(fn)
    with pytest.raises(ConfigError, match=r"output 'h': one_hot expected a int input, got "
                                          r"float"):
        fit(lambda inputs: {"h": gt.one_hot(inputs["x"], 3)})
    with pytest.raises(ConfigError, match=r"output 'm': mean expected a float or int input"):
        fit(lambda inputs: {"m": inputs["x"] + gt.mean(inputs["s"])})


def test_tracing_mistakes_are_config_errors():
    with pytest.raises(ConfigError, match=r"inputs\['xx'\] is not a column.*Did you mean 'x'"):
        fit(lambda inputs: {"a": inputs["xx"]})
    with pytest.raises(ConfigError, match="output 'a': expected a column .* got float"):
        fit(lambda inputs: {"a": 1.0})
    with pytest.raises(ConfigError, match="must return a dict"):
        fit(lambda inputs: [inputs["x"]])
    with pytest.raises(ConfigError, match="no truth value"):
        fit(lambda inputs: {"a": inputs["x"] if inputs["x"] else inputs["i"]})
    with pytest.raises(ConfigError, match="hash_strings: expected a positive integer"):
        fit(lambda inputs: {"a": gt.hash_strings(inputs["s"], 0)})


def test_moments_merge_equals_one_pass():
    rng = np.random.default_rng(3)
    a, b = rng.normal(5, 2, 1000), rng.normal(-3, 7, 300)
    one, left, right = Moments(), Moments(), Moments()
    one.add([np.concatenate([a, b, [np.nan, np.inf]])])
    left.add([a])
    right.add([np.concatenate([b, [np.nan, np.inf]])])
    left.merge(right)
    assert left.n == one.n == 1300 and left.missing == one.missing == 2
    assert left.mean == pytest.approx(one.mean, rel=1e-12)
    assert math.sqrt(left.var) == pytest.approx(np.concatenate([a, b]).std(), rel=1e-12)


def test_accumulators_round_trip_through_json():
    q = Quantiles({"k": 200})
    q.add([np.arange(5000, dtype=np.float64)])
    restored = accumulator_from_json("quantiles", {"k": 200}, q.to_json())
    assert restored.quantiles([0.25, 0.5]) == q.quantiles([0.25, 0.5])
    c = Counts()
    c.add([pa.array(["a", "b", "a", None])])
    back = accumulator_from_json("counts", {}, c.to_json())
    assert back.top() == ["a", "b"] and back.missing == 1


def test_a_renamed_numeric_input_is_a_model_input_and_a_same_name_one_a_passthrough():
    # TFX's penguin preprocessing_fn: outputs["x_xf"] = inputs["x"] feeds the model.
    traced, ft, data = fit(lambda inputs: {"x_xf": inputs["x"], "i": inputs["i"],
                                           "s_xf": inputs["s"]})
    kinds = {f.name: f.kind for f in ft.output_features}
    assert kinds == {"x_xf": "numeric", "i": "passthrough", "s_xf": "passthrough"}
    assert ft.transform(data).column("x_xf").equals(data.column("x"))


def test_num_buckets_of_transformed_features_equal_their_vocab_size():
    def fn(inputs):
        ids = gt.compute_and_apply_vocabulary(inputs["s"], num_oov_buckets=2)
        buckets = gt.bucketize(inputs["x"], 4)
        hashed = gt.hash_strings(inputs["k"], 7)
        return {"ids": ids, "buckets": buckets, "hashed": hashed,
                "ids_n": inputs["x"] * 0 + gt.get_num_buckets_for_transformed_feature(ids),
                "b_n": inputs["x"] * 0 + gt.get_num_buckets_for_transformed_feature(buckets),
                "h_n": inputs["x"] * 0 + gt.get_num_buckets_for_transformed_feature(hashed)}

    _, ft, data = fit(fn)
    sizes = {f.name: f.vocab_size for f in ft.output_features}
    out = ft.transform(data)
    for name, size_of in (("ids_n", "ids"), ("b_n", "buckets"), ("h_n", "hashed")):
        present = out.column(name).drop_null().to_pylist()
        assert set(present) == {sizes[size_of]}, name
    with pytest.raises(ConfigError, match="expected a vocabulary, bucketize or hash column"):
        fit(lambda inputs: {"n": inputs["x"] * gt.get_num_buckets_for_transformed_feature(
            inputs["x"])})


def test_comparisons_and_where_take_analyzer_results():
    def fn(inputs):
        x = inputs["x"]
        return {"above": x > gt.mean(x), "capped": gt.where(x > gt.quantiles(x, 4)[2],
                                                            gt.quantiles(x, 4)[2], x)}

    _, ft, data = fit(fn)
    out = ft.transform(data)
    x = data.column("x").to_numpy(zero_copy_only=False)
    mean = np.nanmean(x)
    above = out.column("above").to_numpy(zero_copy_only=False)
    np.testing.assert_array_equal(above[~np.isnan(x)], (x[~np.isnan(x)] > mean).astype(float))
    assert np.isnan(above[np.isnan(x)]).all()
    capped = out.column("capped").to_numpy(zero_copy_only=False)
    assert np.nanmax(capped) < np.nanmax(x)
