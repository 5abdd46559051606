"""Every element-wise (``tf.*``) and string/date op: Beam == Arrow serving == torch module,
on data with nulls, NaN and strings, and the values are the ones NumPy/Python give."""

from __future__ import annotations

import datetime
import os
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from gristmill.components import Transform
from gristmill.components.framework.executor import ExecutionContext
from gristmill.engine.transform_fn import FittedTransform
from gristmill.metadata.standard_artifacts import Examples, TransformCache, TransformGraph

pytestmark = pytest.mark.integration

MODULE = '''
import gristmill.components.transform_ops as tft


def preprocessing_fn(inputs):
    fare, tips = inputs["fare"], inputs["tips"]
    pay, ts = inputs["payment_type"], inputs["trip_start_timestamp"]
    filled_fare, filled_tips = tft.fill_missing(fare), tft.fill_missing(tips)
    tokens = tft.split(tft.lower(inputs["note"]))
    token_ids = tft.compute_and_apply_vocabulary(tokens, top_k=6, num_oov_buckets=2)
    tfidf_ids, tfidf_weights = tft.tfidf(token_ids, 8)
    return {
        "gt": tips > fare * 0.2, "ge": fare >= 10, "lt": fare < tips, "le": fare <= 10.5,
        "eq": inputs["hour"] == 3, "ne": inputs["hour"] != 3,
        "and": (fare > 9) & (tips > 1), "or": (fare > 12) | (tips < 0.5), "not": ~(fare > 9),
        "where": tft.where(fare > 10, fare, -1.0),
        "above_mean": tft.where(fare > tft.mean(fare), 1.0, tft.mean(fare) - fare),
        "label": tft.where(tft.is_nan(filled_fare), tft.cast(tft.zeros_like(filled_fare),
                           "int64"), tft.cast(tft.greater(filled_tips,
                           tft.multiply(filled_fare, 0.2)), "int64")),
        "as_int": tft.cast(fare, "int64"), "as_float": tft.cast(inputs["hour"], "float32"),
        "hour_str": tft.cast(inputs["hour"], "string"),
        "fare_int_id": tft.compute_and_apply_vocabulary(tft.cast(tft.cast(fare, "int64"),
                                                                 "string")),
        "fare_missing": tft.is_missing(fare), "pay_missing": tft.is_missing(pay),
        "ones": tft.ones_like(fare), "pow": tft.pow(fare, 2), "sq": fare ** 0.5,
        "round": tft.round(fare), "floor": tft.floor(fare), "ceil": tft.ceil(fare),
        "abs": tft.abs(fare - 10), "fill0": filled_fare, "fill_str": tft.fill_missing(pay),
        "lower": tft.lower(pay), "upper": tft.upper(pay), "strip": tft.strip(pay),
        "regex": tft.regex_replace(pay, "[aeiou]", "_"), "substr": tft.substr(pay, 1, 3),
        "length": tft.length(pay), "is_cash": tft.strip(pay) == "Cash",
        "pay_id": tft.compute_and_apply_vocabulary(tft.lower(tft.strip(tft.fill_missing(pay)))),
        "year": tft.date_part(ts, "year"), "month": tft.date_part(ts, "month"),
        "day": tft.date_part(ts, "day"), "hour_of_ts": tft.date_part(ts, "hour"),
        "minute": tft.date_part(ts, "minute"), "dow": tft.date_part(ts, "day_of_week"),
        "doy": tft.date_part(ts, "day_of_year"),
        "hour_z": tft.scale_to_z_score(tft.date_part(ts, "hour")),
        "len_z": tft.scale_to_z_score(tft.length(tft.fill_missing(pay))),
        "gauss_tail": tft.scale_to_gaussian(inputs["tail"]),
        "gauss_fare": tft.scale_to_gaussian(fare),
        "tokens": tokens, "csv_tokens": tft.split(inputs["note"], ","),
        "bigrams": tft.ngrams(tokens, (1, 2), " "), "bag": tft.bag_of_words(tokens, (1, 2), "_"),
        "words": tft.word_count(tokens), "words_z": tft.scale_to_z_score(tft.word_count(tokens)),
        "token_ids": token_ids, "tfidf_ids": tfidf_ids, "tfidf_weights": tfidf_weights,
    }
'''


def raw_table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    fare = rng.normal(10, 3, rows)
    fare[rng.random(rows) < 0.05] = np.nan  # NaN, not null: missing too
    pay = rng.choice([" Cash", "Credit Card ", "Mobile", "Dispute"], rows).astype(object)
    pay[rng.random(rows) < 0.1] = None
    return pa.table({
        "fare": pa.array(fare, mask=rng.random(rows) < 0.05),
        "tips": pa.array(np.round(rng.random(rows) * 4, 2)),
        "hour": pa.array(rng.integers(0, 24, rows), mask=rng.random(rows) < 0.05),
        "payment_type": pa.array(pay.tolist(), pa.string()),
        "trip_start_timestamp": pa.array(rng.integers(1_300_000_000, 1_700_000_000, rows),
                                         mask=rng.random(rows) < 0.05),
        **text_columns(rows, seed + 100),
    })


WORDS = ["Cash", "card", "tip", "airport", "late", "night", "Fare"]


def text_columns(rows: int, seed: int) -> dict[str, pa.Array]:
    """A free-text note (blank, missing, repeated words, odd spacing) and a heavy-tailed
    measurement (Tukey HH with h = 0.2 on the right, 0.1 on the left)."""
    rng = np.random.default_rng(seed)
    notes = [" ".join(rng.choice(WORDS, rng.integers(0, 6))) for _ in range(rows)]
    notes = [("  " + n + " ") if i % 7 == 0 else n.replace(" ", "  ,") if i % 11 == 0 else n
             for i, n in enumerate(notes)]
    u = rng.normal(size=rows)
    tail = 5 + 2 * np.where(u > 0, u * np.exp(0.1 * u * u), u * np.exp(0.05 * u * u))
    return {"note": pa.array(notes, pa.string(), mask=rng.random(rows) < 0.08),
            "tail": pa.array(tail, mask=rng.random(rows) < 0.03)}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tfx_ops")
    (tmp / "module.py").write_text(textwrap.dedent(MODULE))
    examples = Examples(str(tmp / "examples"))
    splits = {"train": raw_table(3000, 1), "eval": raw_table(1000, 2)}
    for split, table in splits.items():
        os.makedirs(examples.split_uri(split))
        pq.write_table(table, f"{examples.split_uri(split)}/part-00000.parquet",
                       row_group_size=700)
    examples.splits = list(splits)
    examples.set_property("row_counts", {s: t.num_rows for s, t in splits.items()})
    out = {"transform_graph": [TransformGraph(str(tmp / "graph"))],
           "transformed_examples": [Examples(str(tmp / "transformed"))],
           "updated_analyzer_cache": [TransformCache(str(tmp / "cache"))]}
    for arts in out.values():
        os.makedirs(arts[0].uri)
    Transform.EXECUTOR(ExecutionContext(component_id="Transform", tmp_dir=str(tmp))).Do(
        {"examples": [examples]}, out, Transform.PARAMETERS(module_file=str(tmp / "module.py")))
    ft = FittedTransform.load(out["transform_graph"][0].uri)
    beam = {s: pq.read_table(out["transformed_examples"][0].split_uri(s)) for s in splits}
    return ft, splits, beam


def _same(a: pa.Array, b: pa.Array, name: str) -> None:
    assert a.type == b.type, name
    if pa.types.is_list(a.type):  # token lists: same rows, same missing rows, same values
        assert a.is_null().equals(b.is_null()), name
        assert pc.list_value_length(a).equals(pc.list_value_length(b)), name
        _same(pc.list_flatten(a), pc.list_flatten(b), name)
    elif pa.types.is_floating(a.type):
        x, y = a.to_numpy(zero_copy_only=False), b.to_numpy(zero_copy_only=False)
        assert np.array_equal(np.isnan(x), np.isnan(y)), name
        np.testing.assert_allclose(x, y, rtol=1e-6, equal_nan=True, err_msg=name)
    else:
        assert a.equals(b), name


@pytest.mark.parametrize("split", ["train", "eval"])
def test_beam_serving_and_torch_agree_on_every_op(fitted, split):
    from gristmill.engine.transform_torch import build_torch_module, transform_with_torch

    ft, raw, beam = fitted
    serving, torch_path = ft.transform(raw[split]), transform_with_torch(ft, raw[split])
    assert beam[split].column_names == serving.column_names == torch_path.column_names
    for name in serving.column_names:
        b = beam[split].column(name).combine_chunks()
        _same(b, serving.column(name).combine_chunks(), name)
        _same(b, torch_path.column(name).combine_chunks(), name)
    module_outputs = {n for n, _, _ in build_torch_module(ft, raw[split].column_names)
                      .output_specs}
    assert {"gauss_tail", "gauss_fare", "words_z"} <= module_outputs  # computed in torch
    assert not module_outputs & {"tokens", "bigrams", "tfidf_weights"}  # lists: Arrow only


def _col(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist()


def test_values_match_python(fitted):
    ft, raw, _ = fitted
    table = raw["eval"]
    out = ft.transform(table)
    fares = [None if f is None or f != f else f for f in _col(table, "fare")]
    tips, pays, stamps = _col(table, "tips"), _col(table, "payment_type"), \
        _col(table, "trip_start_timestamp")
    for i in range(table.num_rows):
        f, t, p, ts = fares[i], tips[i], pays[i], stamps[i]
        row = {n: out.column(n)[i].as_py() for n in out.column_names}
        assert row["gt"] == (None if f is None else float(t > 0.2 * f))
        assert row["label"] == (int(t > 0.2 * f) if f is not None else int(t > 0))
        assert row["as_int"] == (None if f is None else int(f))
        assert row["hour_str"] == (None if table.column("hour")[i].as_py() is None
                                   else str(table.column("hour")[i].as_py()))
        assert row["where"] == (None if f is None else pytest.approx(f if f > 10 else -1.0))
        assert row["fare_missing"] == float(f is None) and row["ones"] == 1.0
        assert row["pay_missing"] == float(p is None)
        assert row["round"] == (None if f is None else float(np.round(f)))
        assert row["lower"] == (None if p is None else p.lower())
        assert row["strip"] == (None if p is None else p.strip())
        assert row["regex"] == (None if p is None else
                                "".join("_" if c in "aeiou" else c for c in p))
        assert row["substr"] == (None if p is None else p[1:4])
        assert row["length"] == (None if p is None else float(len(p)))
        assert row["is_cash"] == (None if p is None else float(p.strip() == "Cash"))
        assert row["fill_str"] == ("" if p is None else p)
        if ts is None:
            assert row["year"] is None and row["dow"] is None
        else:
            d = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
            assert (row["year"], row["month"], row["day"], row["hour_of_ts"], row["minute"],
                    row["dow"], row["doy"]) == (d.year, d.month, d.day, d.hour, d.minute,
                                                d.weekday(), d.timetuple().tm_yday)


def test_output_kinds(fitted):
    ft, _, _ = fitted
    feats = {f.name: f for f in ft.output_features}
    assert (feats["label"].dtype, feats["label"].kind) == ("int64", "numeric")
    assert (feats["gt"].dtype, feats["lower"].dtype) == ("float32", "string")
    assert feats["pay_id"].kind == "categorical"
    assert feats["pay_id"].vocab_size == 5 + 1  # 4 payment types, '', OOV


def _ngrams(tokens: list[str], lo: int, hi: int, sep: str) -> list[str]:
    return [sep.join(tokens[i:i + n]) for i in range(len(tokens)) for n in range(lo, hi + 1)
            if i + n <= len(tokens)]


def test_token_ops_match_python(fitted):
    """split / ngrams / bag_of_words / word_count / vocabulary of tokens / tfidf, computed
    again in plain Python (vocabulary and idf from the analysed train split)."""
    ft, raw, _ = fitted
    train = [None if n is None else n.lower().split() for n in _col(raw["train"], "note")]
    counts: dict[str, int] = {}
    for toks in filter(None, train):
        for t in toks:
            counts[t] = counts.get(t, 0) + 1
    vocab = [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:6]
    table = raw["eval"]
    out = ft.transform(table)
    # The OOV words' hash buckets (6 or 7) as the transform assigned them:
    oov = {w: i for toks, ids in zip(out.column("tokens").to_pylist(),
                                     out.column("token_ids").to_pylist(), strict=True)
           if toks for w, i in zip(toks, ids, strict=True) if w not in vocab}
    assert oov and set(oov.values()) <= {6, 7}
    word_id = {**{w: i for i, w in enumerate(vocab)}, **oov}
    df = [sum(1 for toks in train if toks and i in {word_id[w] for w in toks})
          for i in range(8)]
    n_docs = len(train)
    for i, note in enumerate(_col(table, "note")):
        row = {n: out.column(n)[i].as_py() for n in out.column_names}
        if note is None:
            assert row["tokens"] is None and row["words"] is None and row["tfidf_ids"] is None
            continue
        toks = note.lower().split()
        assert row["tokens"] == toks and row["csv_tokens"] == note.split(",")
        assert row["bigrams"] == _ngrams(toks, 1, 2, " ")
        assert row["bag"] == list(dict.fromkeys(_ngrams(toks, 1, 2, "_")))
        assert row["words"] == len(toks)
        known = [vocab.index(w) if w in vocab else None for w in toks]
        assert [a for a, k in zip(row["token_ids"], known, strict=True) if k is not None] == \
            [k for k in known if k is not None]
        assert all(a in (6, 7) for a, k in zip(row["token_ids"], known, strict=True) if k is None)
        ids = row["token_ids"]
        assert row["tfidf_ids"] == sorted(set(ids))
        expected = [np.float32(ids.count(t) / len(ids)) *
                    np.float32(1 + np.log((n_docs + 1) / (1 + df[t]))) for t in sorted(set(ids))]
        np.testing.assert_allclose(row["tfidf_weights"], expected, rtol=1e-6)


def test_scale_to_gaussian_inverts_tukey_hh(fitted):
    """The heavy-tailed column: Tukey HH parameters near the generating ones, and the output
    g maps back to the input through the forward Tukey HH transform; the Gaussian column
    (fare) gets h = 0, i.e. exactly the z-score."""
    ft, raw, _ = fitted
    summaries = {a["label"]: a for a in ft.plan["analyzers"]}
    tail = summaries["l_moments(tail)"]
    assert tail["hl"] == pytest.approx(0.1, abs=0.05) and tail["hr"] == pytest.approx(0.2, abs=0.05)
    assert summaries["l_moments(fare)"]["hl"] == summaries["l_moments(fare)"]["hr"] == 0.0
    out = ft.transform(raw["eval"])
    g = out.column("gauss_tail").to_numpy(zero_copy_only=False).astype(np.float64)
    x = np.array([np.nan if v is None else v for v in _col(raw["eval"], "tail")])
    assert np.array_equal(np.isnan(g), np.isnan(x))
    h = np.where(g > 0, tail["hr"], tail["hl"])
    back = tail["loc"] + tail["scale"] * g * np.exp(0.5 * h * g * g)
    np.testing.assert_allclose(back[~np.isnan(x)], x[~np.isnan(x)], rtol=2e-5)
    present = g[~np.isnan(g)]
    assert abs(present.mean()) < 0.1 and abs(present.std() - 1) < 0.1
    fare = np.array([np.nan if v is None or v != v else v for v in _col(raw["train"], "fare")])
    z = (np.array([np.nan if v is None or v != v else v for v in _col(raw["eval"], "fare")])
         - np.nanmean(fare)) / np.nanstd(fare)
    np.testing.assert_allclose(out.column("gauss_fare").to_numpy(zero_copy_only=False), z,
                               rtol=1e-5, atol=1e-6)


def test_post_transform_statistics_count_token_lists(tmp_path):
    """Transform's own statistics take list outputs as list features: present and missing
    rows counted, values per row measured (nothing dropped)."""
    import json

    (tmp_path / "module.py").write_text(
        "import gristmill.components.transform_ops as tft\n"
        "def preprocessing_fn(inputs):\n"
        "    toks = tft.split(inputs['s'])\n"
        "    return {'toks': toks, 'n': tft.word_count(toks)}\n")
    examples = Examples(str(tmp_path / "examples"))
    table = pa.table({"s": ["a b", "", None, "c d e", "a"] * 20})
    for split in ("train", "eval"):
        os.makedirs(examples.split_uri(split))
        pq.write_table(table, f"{examples.split_uri(split)}/part.parquet")
    examples.splits = ["train", "eval"]
    examples.set_property("row_counts", {"train": 100, "eval": 100})
    out = {k: [spec.type(str(tmp_path / k))] for k, spec in Transform.OUTPUTS.items()}
    for arts in out.values():
        os.makedirs(arts[0].uri)
    Transform.EXECUTOR(ExecutionContext(component_id="Transform", tmp_dir=str(tmp_path))).Do(
        {"examples": [examples]}, out,
        Transform.PARAMETERS(module_file=str(tmp_path / "module.py")))
    stats = json.loads((tmp_path / "post_transform_stats" / "Split-train" / "statistics.json")
                       .read_text())
    toks = next(f for f in stats["features"] if f["name"] == "toks")
    assert (toks["is_list"], toks["num_present"], toks["num_missing"]) == (True, 80, 20)
    assert (toks["num_values"], toks["max_num_values"]) == (120, 3)
