"""The raw inputs a serving bundle reads: which columns, which types, and what is refused.

One set of rules for every way records reach a model (``ServingBundle.predict`` and
``predict_records``, the MLflow pyfunc, the model server, the Evaluator, the BulkInferrer):

* **Columns** (a table, a record batch, a DataFrame): every raw column the model reads must be
  present. An absent column is an error that names every missing column (send a column of
  nulls when the values are unknown). Other columns (the label, ids) are ignored and listed
  in the :class:`InputReport`.
* **Records** (JSON objects): a key left out is the same as the key sent as ``null``. A key the
  model does not read (a misspelled field) is ignored and reported back with a count. A
  record with no value for any of the model's features (``{}``, or every feature null) is
  refused, and so is an empty list of records.
* **Types**, per raw column, by the Arrow type it had in training: safe widening is accepted
  (int -> float, bool -> number, float with whole values -> int, an integer or decimal
  number -> string for a string column, an all-null column -> any type, ``""`` or blanks ->
  null in a numeric column); anything else (text in a numeric column, 2.5 in an integer
  column, a list where a number was trained) is a :class:`DataError` naming the column, the
  expected and the found type, and a sample value.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from gristmill.engine.errors import DataError
from gristmill.engine.serving_types import clean_value, widen

#: Kinds of raw input, by the Arrow type the column had in training.
INTEGER, NUMBER, BOOLEAN, STRING, OTHER = "integer", "number", "boolean", "string", "other"


@dataclass(frozen=True)
class RawInput:
    """A raw column the model reads.

    Attributes:
        name: Column name.
        kind: ``integer``, ``number``, ``boolean``, ``string`` or ``other`` (taken as is).
        arrow_type: The Arrow type name recorded in training (``int64``, ``double`` ...).
    """

    name: str
    kind: str
    arrow_type: str


@dataclass
class InputReport:
    """What was done to a batch before predicting.

    Attributes:
        rows: Records (rows) predicted.
        ignored_columns: Columns (or record keys) that are not raw features nor the label.
        unknown_keys: Ignored key (column) -> number of records (rows) that held a value.
        conversions: Column -> the widening applied (``"int64 -> double"``, ...).
        suggestions: Ignored column -> the model feature it probably meant.
    """

    rows: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    unknown_keys: dict[str, int] = field(default_factory=dict)
    conversions: dict[str, str] = field(default_factory=dict)
    suggestions: dict[str, str] = field(default_factory=dict)

    def warnings(self) -> list[str]:
        """One line per unknown record key, for the caller (the server's ``warnings``)."""
        lines = []
        for key, count in self.unknown_keys.items():
            hint = f"; did you mean {self.suggestions[key]!r}?" if key in self.suggestions else ""
            lines.append(f"unknown key {key!r} ignored in {count} record(s): the model does "
                         f"not read it{hint}")
        return lines

    def row_warnings(self, table: pa.Table) -> list[str] | None:
        """Per row of ``table`` (the input), the ignored columns that held a value there;
        ``None`` when no row had any (the pyfunc's ``warnings`` column)."""
        notes: list[list[str]] = [[] for _ in range(table.num_rows)]
        for name in self.ignored_columns:
            if name not in table.column_names:
                continue
            hint = f" (did you mean {self.suggestions[name]!r}?)" if name in self.suggestions \
                else ""
            valid = table.column(name).is_valid().to_pylist()
            for row, present in enumerate(valid):
                if present:
                    notes[row].append(f"unknown field {name!r} ignored{hint}")
        if not any(notes):
            return None
        return ["; ".join(n) for n in notes]


def kind_of(arrow_type: str) -> str:
    """The :class:`RawInput` kind of a recorded Arrow type name (or transform type name)."""
    name = arrow_type.lower()
    if name in ("float", "int"):  # a transform plan's own type names
        return NUMBER if name == "float" else INTEGER
    if name.startswith(("int", "uint")):
        return INTEGER
    if name.startswith(("double", "float", "halffloat", "decimal")):
        return NUMBER
    if name in ("bool", "boolean"):
        return BOOLEAN
    if name in ("string", "large_string", "utf8", "large_utf8", "string_view") or \
            name.startswith("dictionary<values=string"):
        return STRING
    return OTHER


def model_raw_inputs(config: dict[str, Any], encoder: Any) -> list[RawInput]:
    """The raw columns the model reads (in ``raw_features`` order), with their training types.

    Columns the encoder skipped (a timestamp without a transform) and raw columns a transform
    reads only for passthrough outputs are not inputs: a batch may lack them.
    """
    recorded = {f["name"]: str(f.get("type", "")) for f in config.get("raw_features", [])}
    transform = getattr(encoder, "transform", None)
    if transform is None:
        used = [*encoder.numeric_names, *encoder.categorical_names]
    else:
        label = config.get("label_key")
        used = [name for f in transform.output_features
                if f.name != label and f.kind in ("numeric", "categorical")
                for name in f.raw_inputs]
        for f in transform.raw_features:
            recorded.setdefault(f.name, f.arrow_type or f.type)
    ordered = [n for n in recorded if n in set(used)]
    ordered += [n for n in dict.fromkeys(used) if n not in recorded]
    return [RawInput(n, kind_of(recorded.get(n, "")), recorded.get(n, "")) for n in ordered]


def missing_columns_error(missing: Sequence[str], required: Sequence[str],
                          present: Sequence[str], source: str, fix: str | None = None
                          ) -> DataError:
    """The error for raw columns absent from a batch (one message for every entry point)."""
    names = ", ".join(repr(m) for m in missing)
    what = f"raw column {names} is" if len(missing) == 1 else f"raw columns {names} are"
    spare = [p for p in present if p not in required]
    hints = [f"{close[0]!r} for {m!r}?" for m in missing
             if (close := difflib.get_close_matches(m, spare, n=1, cutoff=0.75))]
    hint = f" Did you mean {', '.join(hints)}" if hints else ""
    return DataError(
        f"{source}: {what} missing; the model reads {list(required)} and the input has "
        f"{list(present)}.{hint}",
        fix=fix or "add the missing column(s) to the input (a column of nulls when the values "
                   "are unknown); the model takes raw records as ExampleGen wrote them, not "
                   "Transform's transformed_examples")


def conform_table(table: pa.Table, inputs: Sequence[RawInput], *, label_key: str | None = None,
                  source: str = "predict") -> tuple[pa.Table, InputReport]:
    """Check ``table`` against the model's raw inputs and apply the safe widenings.

    Returns:
        A table of exactly the raw input columns (in ``inputs`` order), and the report.

    Raises:
        DataError: A raw column is missing, or holds values its training type cannot take.
    """
    names = [i.name for i in inputs]
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise missing_columns_error(missing, names, table.column_names, source)
    report = InputReport(rows=table.num_rows)
    report.ignored_columns = [c for c in table.column_names if c not in names and c != label_key]
    report.unknown_keys = {c: table.num_rows - table.column(c).null_count
                           for c in report.ignored_columns
                           if table.num_rows - table.column(c).null_count}
    report.suggestions = _suggestions(report.ignored_columns, names)
    columns = []
    for spec in inputs:
        column, note = conform_column(table.column(spec.name), spec, source)
        if note:
            report.conversions[spec.name] = note
        columns.append(column)
    return pa.table(columns, names=names) if names else table.select([]), report


def clean_records(records: Sequence[Any], inputs: Sequence[RawInput], *,
                  label_key: str | None = None, source: str = "predict_records"
                  ) -> tuple[list[dict[str, Any]], InputReport]:
    """JSON-like records -> records of exactly the model's inputs, widened (absent key == null).

    Raises:
        DataError: No records, a record that is not an object, a record without any value
            for the model's features, or a value its column's training type cannot take.
    """
    names = [i.name for i in inputs]
    if not records:
        raise DataError(f"{source}: no records to predict; got an empty list.",
                        fix="send at least one record (a JSON object of raw feature values)")
    not_objects = [i for i, r in enumerate(records) if not isinstance(r, dict)]
    if not_objects:
        raise DataError(f"{source}: record(s) {not_objects[:10]} are not JSON objects "
                        f"(got {type(records[not_objects[0]]).__name__}).",
                        fix="send each record as an object of {feature: value}")
    unknown: dict[str, int] = {}
    for record in records:
        for key in record:
            if key not in names and key != label_key:
                unknown[key] = unknown.get(key, 0) + 1
    suggestions = _suggestions(list(unknown), names)
    _refuse_empty_records(records, names, suggestions, source)
    cleaned = [{spec.name: clean_value(record.get(spec.name), spec, source, row)
                for spec in inputs} for row, record in enumerate(records)]
    report = InputReport(rows=len(records), ignored_columns=list(unknown),
                         unknown_keys=unknown, suggestions=suggestions)
    return cleaned, report


def table_from_records(records: Sequence[Any], inputs: Sequence[RawInput], *,
                       label_key: str | None = None, source: str = "predict_records"
                       ) -> tuple[pa.Table, InputReport]:
    """:func:`clean_records`, as a table of the model's inputs typed as in training."""
    cleaned, report = clean_records(records, inputs, label_key=label_key, source=source)
    columns = [pa.array([r[spec.name] for r in cleaned], _RECORD_TYPES.get(spec.kind))
               for spec in inputs]
    if not columns:
        return pa.table({"_": pa.nulls(len(cleaned))}).select([]), report
    table = pa.table(columns, names=[spec.name for spec in inputs])
    conformed, _ = conform_table(table, inputs, label_key=label_key, source=source)
    return conformed, report


_RECORD_TYPES = {INTEGER: pa.int64(), NUMBER: pa.float64(), BOOLEAN: pa.bool_(),
                 STRING: pa.string()}


def _refuse_empty_records(records: Sequence[dict], names: list[str],
                          suggestions: dict[str, str], source: str) -> None:
    empty = [i for i, r in enumerate(records) if all(r.get(n) is None for n in names)]
    if not empty:
        return
    first = records[empty[0]]
    hint = (f" Unknown keys with close feature names: {suggestions}." if suggestions else "")
    raise DataError(f"{source}: record(s) {empty[:10]} of {len(records)} have no value for "
                    f"any of the model's features {names} (record {empty[0]} has keys "
                    f"{sorted(first)}); an empty record is refused rather than answered with "
                    f"the model's guess for nothing.{hint}",
                    fix="send at least one feature value per record (a key left out counts "
                        "as null)")


def _suggestions(unknown: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    out = {}
    for key in unknown:
        close = difflib.get_close_matches(key, list(names), n=1, cutoff=0.75)
        if close:
            out[key] = close[0]
    return out


def _expected(spec: RawInput) -> str:
    return {INTEGER: "an integer", NUMBER: "a number", BOOLEAN: "a boolean",
            STRING: "a string"}.get(spec.kind, spec.arrow_type)


def conform_column(column: pa.ChunkedArray | pa.Array, spec: RawInput, source: str
                   ) -> tuple[pa.Array, str | None]:
    """One column, widened to what training saw; ``(array, note)`` (note ``None`` if as is).

    Raises:
        DataError: The values cannot be taken safely (see the module docstring).
    """
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return widen(array, spec, source)
