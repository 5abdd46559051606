"""A fitted transform: the frozen preprocessing plan shipped from Transform to serving.

The Transform component traces a user's ``preprocessing_fn``, computes its analyzers on Beam
and writes the result as a *plan*: ``transform_fn.json`` (an ordered list of steps with every
analyzer result baked in as a constant) plus ``vocabularies/<name>.txt``. This module applies
that plan. It is the only apply code there is: Transform's Beam job calls
:meth:`FittedTransform.transform` on every record batch, and so does serving, which is what
rules out training/serving skew.

Plan format (``"format": "gristmill.transform_fn/1"``)::

    {"raw_features": [{"name": "fare", "type": "float", "arrow_type": "double"}, ...],
     "steps": [{"id": "t3", "op": "scale_to_z_score", "args": ["input:fare"],
                "params": {"mean": 11.2, "std": 9.8}, "dtype": "float",
                "label": "scale_to_z_score(fare)"}, ...],
     "outputs": [{"name": "fare_z", "ref": "t3", "dtype": "float32", "kind": "numeric",
                  "vocab_size": null, "shape": []}, ...],
     "vocabularies": {"payment_type": {"file": "vocabularies/payment_type.txt", "size": 7}}}

An arg is a ref (``"input:<raw column>"`` or a step id) or, for ``arith``, a number.
Missing-value rules are listed in :mod:`gristmill.engine.transform_kernels`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from gristmill.engine import transform_kernels as k
from gristmill.engine.errors import ConfigError, DataError

PLAN_FORMAT = "gristmill.transform_fn/1"
PLAN_FILE = "transform_fn.json"
VOCAB_DIR = "vocabularies"
INPUT_PREFIX = "input:"
_ARROW_OUTPUT_TYPES = {"float": pa.float32(), "int": pa.int64()}


@dataclass(frozen=True)
class RawFeature:
    """A raw input column the transform reads.

    Attributes:
        name: Column name.
        type: ``float``, ``int``, ``string`` or ``other`` (passthrough only).
        arrow_type: The Arrow type seen when the transform was fitted.
    """

    name: str
    type: str
    arrow_type: str = ""


@dataclass(frozen=True)
class OutputFeature:
    """One column the transform produces (a model input, or a passthrough such as the label).

    Attributes:
        name: Output column name.
        dtype: Arrow type name of the column (``float32``, ``int64``, ``string`` ...).
        kind: ``numeric`` (floats), ``categorical`` (int64 ids in ``[0, vocab_size)``) or
            ``passthrough`` (a raw column copied unchanged).
        vocab_size: Number of distinct ids for a categorical feature (OOV buckets included).
        shape: Per-row shape: ``[]`` for scalars, ``[depth]`` for ``one_hot``.
        raw_inputs: Raw columns needed to compute it; absent ones omit the feature.
    """

    name: str
    dtype: str
    kind: str
    vocab_size: int | None = None
    shape: tuple[int, ...] = ()
    raw_inputs: tuple[str, ...] = field(default=())


class FittedTransform:
    """Applies a fitted plan to Arrow tables, batch by batch, without Beam.

    Args:
        plan: The parsed ``transform_fn.json``.
        vocabularies: Vocabulary name -> tokens, most frequent first.
        source: Where the plan came from, for error messages.
    """

    def __init__(self, plan: dict[str, Any], vocabularies: dict[str, list[str]] | None = None,
                 source: str = "<in memory>"):
        if plan.get("format") != PLAN_FORMAT:
            raise ConfigError(f"{source}: expected a plan with format {PLAN_FORMAT!r}, got "
                              f"{plan.get('format')!r}.",
                              fix="re-run Transform with this version of gristmill")
        self.plan = plan
        self.source = source
        self.vocabularies = {n: list(v) for n, v in (vocabularies or {}).items()}
        self._vocab_arrays = {n: pa.array(v, pa.string()) for n, v in self.vocabularies.items()}
        self.steps: list[dict[str, Any]] = list(plan["steps"])
        self._steps = {s["id"]: s for s in self.steps}
        self.raw_features = [RawFeature(**f) for f in plan["raw_features"]]
        self._raw = {f.name: f for f in self.raw_features}
        self._needs = self._raw_dependencies()
        self.output_features = [self._output_feature(o) for o in plan["outputs"]]

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def load(cls, uri: str | os.PathLike) -> FittedTransform:
        """Load ``transform_fn.json`` and its vocabulary files from a TransformGraph ``uri``."""
        path = os.path.join(os.fspath(uri), PLAN_FILE)
        if not os.path.exists(path):
            raise DataError(f"FittedTransform.load: {path} does not exist; expected a "
                            "TransformGraph directory written by Transform.", uri=os.fspath(uri),
                            fix="pass transform.outputs['transform_graph'] artifact's uri")
        with open(path, encoding="utf-8") as f:
            plan = json.load(f)
        vocabs = {name: read_vocabulary(_inside(os.fspath(uri), spec["file"], path))
                  for name, spec in plan.get("vocabularies", {}).items()}
        return cls(plan, vocabs, source=path)

    def save(self, uri: str | os.PathLike) -> None:
        """Write ``transform_fn.json`` and ``vocabularies/<name>.txt`` under ``uri``."""
        uri = os.fspath(uri)
        os.makedirs(os.path.join(uri, VOCAB_DIR), exist_ok=True)
        for name, tokens in self.vocabularies.items():
            write_vocabulary(os.path.join(uri, self.plan["vocabularies"][name]["file"]), tokens)
        with open(os.path.join(uri, PLAN_FILE), "w", encoding="utf-8") as f:
            json.dump(self.plan, f, indent=2, sort_keys=False)
            f.write("\n")

    # ------------------------------------------------------------------ applying
    def transform(self, table: Any, outputs: Iterable[str] | None = None) -> pa.Table:
        """Apply the plan: raw columns in, model inputs out.

        Args:
            table: A ``pa.Table``, ``pa.RecordBatch`` or pandas DataFrame of raw records.
                Extra columns are ignored; outputs that need an absent column (the label
                at serving time) are omitted.
            outputs: Only these output names (default: all computable ones).

        Returns:
            A table with one column per output feature, in plan order.

        Raises:
            DataError: A raw column has a type the plan cannot use.
        """
        table = to_table(table)
        feats = self.available_outputs(table.column_names, outputs)
        values = self.evaluate(table, [self._ref(f.name) for f in feats])
        columns = [self._output_column(table, f, values) for f in feats]
        if not feats:
            return table.select([])
        return pa.table(columns, names=[f.name for f in feats])

    def available_outputs(self, columns: Iterable[str],
                          names: Iterable[str] | None = None) -> list[OutputFeature]:
        """Output features computable from ``columns`` (restricted to ``names`` if given)."""
        have = set(columns)
        wanted = None if names is None else set(names)
        return [f for f in self.output_features
                if set(f.raw_inputs) <= have and (wanted is None or f.name in wanted)]

    def evaluate(self, table: pa.Table, refs: Iterable[str]) -> dict[str, Any]:
        """Compute the given refs (step ids or ``input:`` columns) in their internal form.

        Only the steps the refs depend on run. Used by the analyzers of a multi-phase
        transform and by :meth:`transform`.
        """
        wanted = {r for r in refs if r}
        needed = self._closure(wanted)
        values: dict[str, Any] = {}
        for step in self.steps:
            if step["id"] in needed:
                values[step["id"]] = self._run_step(step, table, values)
        for ref in wanted:
            if ref.startswith(INPUT_PREFIX):
                values[ref] = self._raw_value(table, ref[len(INPUT_PREFIX):])
        return values

    def to_torch_module(self):
        """The numeric part as a ``torch.nn.Module`` (see :mod:`.transform_torch`)."""
        from gristmill.engine.transform_torch import build_torch_module

        return build_torch_module(self)

    @property
    def raw_feature_names(self) -> list[str]:
        """Names of the raw columns the plan reads."""
        return [f.name for f in self.raw_features]

    def output_ref(self, name: str) -> str:
        """The step id (or ``input:`` ref) that produces output ``name``."""
        return self._ref(name)

    # ------------------------------------------------------------------ internals
    def _ref(self, name: str) -> str:
        return next(o["ref"] for o in self.plan["outputs"] if o["name"] == name)

    def _run_step(self, step: dict, table: pa.Table, values: dict[str, Any]) -> Any:
        args = [a if isinstance(a, (int, float)) else self._arg(a, table, values)
                for a in step["args"]]
        op, params = step["op"], step.get("params", {})
        try:
            if op == "vocabulary":
                return k.vocabulary(args, params, self._vocab_arrays[params["vocabulary"]])
            kernel = k.NUMERIC_KERNELS.get(op) or k.STRING_KERNELS[op]
            return kernel(args, params)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError, ValueError) as e:
            raise DataError(f"{self.source}: step {step['id']} {step.get('label', op)} failed "
                            f"on a batch of {table.num_rows} rows: {e}",
                            fix="check the raw column types against raw_features") from e

    def _arg(self, ref: str, table: pa.Table, values: dict[str, Any]) -> Any:
        if ref.startswith(INPUT_PREFIX):
            return self._raw_value(table, ref[len(INPUT_PREFIX):])
        return values[ref]

    def _raw_value(self, table: pa.Table, name: str) -> Any:
        if name not in table.column_names:
            raise DataError(f"{self.source}: raw column {name!r} is missing; the batch has "
                            f"{table.column_names}.", fix=f"add column {name!r} to the input")
        col = k.as_array(table.column(name))
        want = self._raw[name].type
        if want in ("float", "int") and pa.types.is_temporal(col.type):
            return k.temporal_as_number(col)  # as its schema types it: a number
        if want in ("float", "int") and not _is_numeric(col.type):
            raise DataError(f"{self.source}: raw column {name!r} expected a numeric ({want}) "
                            f"column as when the transform was fitted, got {col.type}.",
                            fix=f"give {name!r} a numeric type (or a date/timestamp type) in "
                                "the input data, as in the data the transform was fitted on")
        return col

    def _output_column(self, table: pa.Table, feat: OutputFeature, values: dict) -> pa.Array:
        ref = self._ref(feat.name)
        if ref.startswith(INPUT_PREFIX):
            return self._raw_value(table, ref[len(INPUT_PREFIX):])
        return k.to_arrow(values[ref], self._steps[ref]["dtype"])

    def _closure(self, refs: set[str]) -> set[str]:
        needed, stack = set(), [r for r in refs if r in self._steps]
        while stack:
            ref = stack.pop()
            if ref in needed:
                continue
            needed.add(ref)
            stack.extend(a for a in self._steps[ref]["args"]
                         if isinstance(a, str) and a in self._steps)
        return needed

    def _raw_dependencies(self) -> dict[str, tuple[str, ...]]:
        needs: dict[str, tuple[str, ...]] = {}
        for step in self.steps:
            deps: set[str] = set()
            for a in step["args"]:
                if isinstance(a, str):
                    deps.update([a[len(INPUT_PREFIX):]] if a.startswith(INPUT_PREFIX)
                                else needs[a])
            needs[step["id"]] = tuple(sorted(deps))
        return needs

    def _output_feature(self, out: dict[str, Any]) -> OutputFeature:
        ref = out["ref"]
        raw = (ref[len(INPUT_PREFIX):],) if ref.startswith(INPUT_PREFIX) else self._needs[ref]
        return OutputFeature(name=out["name"], dtype=out["dtype"], kind=out["kind"],
                             vocab_size=out.get("vocab_size"), shape=tuple(out.get("shape", ())),
                             raw_inputs=raw)


def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) \
        or pa.types.is_null(t) or pa.types.is_decimal(t)


def to_table(data: Any) -> pa.Table:
    """A ``pa.Table`` from a table, a record batch or a pandas DataFrame."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "columns") and hasattr(data, "dtypes"):
        return pa.Table.from_pandas(data, preserve_index=False)
    raise TypeError(f"expected a pyarrow Table, RecordBatch or pandas DataFrame, got "
                    f"{type(data).__name__}")


def read_vocabulary(path: str) -> list[str]:
    """Tokens of a vocabulary file, one per line, most frequent first."""
    with open(path, encoding="utf-8", newline="\n") as f:
        text = f.read()
    return text[:-1].split("\n") if text else []


def write_vocabulary(path: str, tokens: list[str]) -> None:
    """Write tokens one per line (tokens never contain a newline: see Transform)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(t + "\n" for t in tokens))



def _inside(root: str, relative: str, source: str) -> str:
    """``root/relative``, refusing paths that leave ``root`` (``..``, absolute, symlinks)."""
    path = os.path.realpath(os.path.join(root, relative))
    if os.path.commonpath([path, os.path.realpath(root)]) != os.path.realpath(root):
        raise ConfigError(f"{source}: vocabulary file {relative!r} lies outside the transform "
                          f"graph {root}.", fix="vocabulary files must be relative paths inside "
                          "the transform graph; regenerate it with Transform")
    return path
