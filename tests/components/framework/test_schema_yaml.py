"""schema.yaml's direct writer: the same text as PyYAML's, byte for byte, without PyYAML's
pure-Python representer for plain schemas (SchemaGen's cost at 5,000 columns)."""

from __future__ import annotations

import random

import pytest
import yaml

from gristmill.components.framework import schema_yaml
from gristmill.components.framework.data_schema import (
    DataSchema,
    FeatureComparator,
    FeatureSchema,
    NumericRange,
    Presence,
    load_schema,
    save_schema,
)
from gristmill.components.framework.schema_yaml import dump_yaml

ARGS = {"Dumper": getattr(yaml, "CSafeDumper", yaml.SafeDumper), "sort_keys": False,
        "allow_unicode": True}
#: Strings PyYAML plain-writes, quotes, escapes or folds.
WORDS = ["a", "yes", "No", "ON", "off", "null", "~", "", " x", "x ", "a b", "1", "-1", "1.5",
         "0x1f", ".inf", ".NaN", "é", "日本", "a:b", "a: b", "#c", "x#", "'q'", '"d"',
         "line\nbreak", "tab\tx", "2026-12-03", "_u", "ok_name", "Z9", "y", "n", "-", "- x",
         "? k", "[a]", "{b}", "&a", "*b", "!t", "%p", "@", "`", "|", ">", "x" * 130,
         ("word " * 30).strip(), "c1000", "True", "FALSE", "<<", "=", "1_000", "0o7"]
FLOATS = [0.0, -0.0, 1.0, 1e20, 1e-5, 5e-324, 1.7976931348623157e308, 0.1, 1e16, -2.5e-10,
          123456789012345680.0, float("nan"), float("inf"), float("-inf"), 3.0]


def _scalar(rnd: random.Random):
    k = rnd.random()
    if k < 0.4:
        return rnd.choice(WORDS) if rnd.random() < 0.5 else f"c{rnd.randint(0, 99999)}"
    if k < 0.6:
        return rnd.choice(FLOATS) if rnd.random() < 0.5 else \
            rnd.uniform(-1e6, 1e6) * 10 ** rnd.randint(-30, 30)
    if k < 0.8:
        return rnd.randint(-10**20, 10**20) if rnd.random() < 0.2 else rnd.randint(-5, 100)
    return rnd.random() < 0.5


def _value(rnd: random.Random, depth: int = 0):
    k = rnd.random()
    if k < 0.6 or depth:
        return _scalar(rnd)
    if k < 0.8:
        return [_scalar(rnd) for _ in range(rnd.randint(0, 4))]
    return {rnd.choice(["on", "a b", "k" * 120]) if rnd.random() < 0.1 else f"k{i}":
            _value(rnd, 1) for i in range(rnd.randint(0, 3))}


@pytest.mark.unit
def test_random_schema_shaped_data_is_written_as_pyyaml_writes_it():
    rnd = random.Random(5)
    for _ in range(1500):
        features = [{("name" if i == 0 else f"f{i}"): _value(rnd)
                     for i in range(rnd.randint(1, 12))} for _ in range(rnd.randint(0, 6))]
        data = {"version": 1, "features": features, "min_examples": rnd.randint(0, 5)}
        if rnd.random() < 0.05:
            data["extra"] = _value(rnd)
        assert dump_yaml(data) == yaml.dump(data, **ARGS), data
    assert dump_yaml({}) == yaml.dump({}, **ARGS)


def _wide_schema(n: int) -> DataSchema:
    return DataSchema(min_examples=2, features=[
        FeatureSchema(name=f"c{i}", type="FLOAT", arrow_type="double", shape=[],
                      range=NumericRange(min=-0.5 * i, max=1e9 + i) if i % 3 else None)
        if i % 2 else
        FeatureSchema(name=f"c{i}", type="STRING", arrow_type="string", categorical=True,
                      domain=["a", "b", "c"] if i % 4 else ["x y", "yes", "1", "é"],
                      presence=Presence(min_fraction=0.9, min_count=3),
                      drift_comparator=FeatureComparator(infinity_norm=0.1))
        for i in range(n)])


@pytest.mark.unit
def test_save_schema_writes_pyyaml_s_text_and_reads_back_equal(tmp_path):
    schema = _wide_schema(400)
    path = save_schema(schema, str(tmp_path))
    with open(path) as f:
        text = f.read()
    expected = yaml.dump(schema.model_dump(mode="json", exclude_none=True), **ARGS)
    assert text.split("\n", 1)[1] == expected
    (tmp_path / f".{path.rsplit('/', 1)[1]}.parsed.json").unlink()  # parse the YAML itself
    assert load_schema(str(tmp_path)) == schema


@pytest.mark.unit
def test_a_plain_wide_schema_is_written_without_pyyaml(tmp_path, monkeypatch):
    calls = []
    real = yaml.dump
    monkeypatch.setattr(yaml, "dump", lambda *a, **k: calls.append(1) or real(*a, **k))
    schema = DataSchema(features=[FeatureSchema(name=f"c{i}", type="FLOAT", shape=[],
                                                range=NumericRange(min=0.0, max=float(i)))
                                  for i in range(2000)])
    save_schema(schema, str(tmp_path))
    assert calls == []  # PyYAML's representer: ~0.35 s for these 2,000 features
    odd = DataSchema(features=[FeatureSchema(name="a b", type="INT"),
                               FeatureSchema(name="x", type="INT")])
    assert schema_yaml.dump_yaml(odd.model_dump(mode="json", exclude_none=True)) == \
        real(odd.model_dump(mode="json", exclude_none=True), **ARGS)
    assert len(calls) == 1  # only the item PyYAML must quote
