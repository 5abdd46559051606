"""Typed ExampleGen configuration: TFX's ``Input``, ``Output`` and ``RangeConfig`` as pydantic.

::

    Input(splits=[SplitPattern(name="train", pattern="span-{SPAN}/train/*.csv"),
                  SplitPattern(name="eval", pattern="span-{SPAN}/eval/*.csv")])
    Output(split_config=SplitConfig(splits=[SplitSpec(name="train", hash_buckets=3),
                                            SplitSpec(name="eval", hash_buckets=1)],
                                    partition_feature_name="customer_id"))
    RangeConfig(rolling_range=RollingRange(num_spans=7))
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal

import pyarrow as pa
import pydantic

from gristmill.components.framework.base import Parameters

_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class _Config(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")


def escapes_base(pattern: str) -> bool:
    """Whether a split pattern could reach outside ``input_base``: absolute, ``~`` or a
    ``..`` component."""
    parts = pattern.replace("\\", "/").split("/")
    return pattern.startswith(("/", "~", "\\")) or os.path.isabs(pattern) or ".." in parts


class SplitPattern(_Config):
    """One input split: a glob relative to ``input_base``.

    The pattern may hold ``{SPAN}`` (or ``{SPAN:N}`` for N digits), ``{VERSION}`` (or
    ``{VERSION:N}``) and the date specs ``{YYYY}``, ``{MM}``, ``{DD}`` (span = days since
    1970-01-01). ``{SPAN}`` and date specs are mutually exclusive.
    """

    name: str
    pattern: str

    @pydantic.field_validator("pattern")
    @classmethod
    def _inside_base(cls, value: str) -> str:
        if escapes_base(value):
            raise ValueError(f"pattern {value!r} reaches outside input_base (absolute, '~' or "
                             f"'..'); give it relative to input_base, without '..'")
        return value

    @pydantic.field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _SPLIT_NAME.match(value):
            raise ValueError(f"split names may use letters, digits, '_', '.', '-'; got {value!r}")
        return value


class Input(_Config):
    """Where the input files are: one :class:`SplitPattern` per input split."""

    splits: list[SplitPattern] = [SplitPattern(name="single_split", pattern="*")]

    @pydantic.model_validator(mode="after")
    def _check(self) -> Input:
        names = [s.name for s in self.splits]
        if not names:
            raise ValueError("at least one split pattern is needed")
        if len(set(names)) != len(names):
            raise ValueError(f"split names must be unique, got {names}")
        return self


class SplitSpec(_Config):
    """One output split and its share of hash buckets."""

    name: str
    hash_buckets: int = pydantic.Field(gt=0)

    @pydantic.field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return SplitPattern._valid_name(value)


class SplitConfig(_Config):
    """How rows are spread over output splits by a stable hash.

    Attributes:
        splits: Output splits; a row goes to split i with probability
            ``hash_buckets[i] / sum(hash_buckets)``.
        partition_feature_name: Hash only this column, so all rows sharing its value land in
            the same split (e.g. one customer never in both train and eval).
    """

    splits: list[SplitSpec]
    partition_feature_name: str | None = None

    @pydantic.model_validator(mode="after")
    def _check(self) -> SplitConfig:
        names = [s.name for s in self.splits]
        if not names:
            raise ValueError("at least one output split is needed")
        if len(set(names)) != len(names):
            raise ValueError(f"split names must be unique, got {names}")
        return self


DEFAULT_SPLIT_CONFIG = SplitConfig(splits=[SplitSpec(name="train", hash_buckets=2),
                                           SplitSpec(name="eval", hash_buckets=1)])


class Output(_Config):
    """Output splits. Without ``split_config``: one input split -> train:eval = 2:1; several
    input splits -> the same splits.

    ``partition_feature_name`` may be given here or in ``split_config`` (TFX's place).
    """

    split_config: SplitConfig | None = None
    partition_feature_name: str | None = None

    @pydantic.model_validator(mode="after")
    def _check(self) -> Output:
        inner = self.split_config.partition_feature_name if self.split_config else None
        if inner and self.partition_feature_name and inner != self.partition_feature_name:
            raise ValueError(f"partition_feature_name given twice with different values: "
                             f"{self.partition_feature_name!r} and {inner!r}")
        return self

    @property
    def partition_feature(self) -> str | None:
        """The column to hash, or ``None`` to hash whole rows."""
        inner = self.split_config.partition_feature_name if self.split_config else None
        return self.partition_feature_name or inner


class StaticRange(_Config):
    """Spans ``start_span_number`` to ``end_span_number``, inclusive."""

    start_span_number: int = pydantic.Field(ge=0)
    end_span_number: int = pydantic.Field(ge=0)

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> StaticRange:
        if self.end_span_number < self.start_span_number:
            raise ValueError(f"end_span_number {self.end_span_number} is before "
                             f"start_span_number {self.start_span_number}")
        return self


class RollingRange(_Config):
    """The latest ``num_spans`` spans, none older than ``start_span_number``."""

    start_span_number: int = pydantic.Field(0, ge=0)
    num_spans: int = pydantic.Field(1, ge=1)


class RangeConfig(_Config):
    """Which spans to ingest: exactly one of ``static_range`` or ``rolling_range``."""

    static_range: StaticRange | None = None
    rolling_range: RollingRange | None = None

    @pydantic.model_validator(mode="after")
    def _one_of(self) -> RangeConfig:
        if (self.static_range is None) == (self.rolling_range is None):
            raise ValueError("give exactly one of static_range or rolling_range")
        return self

    def select(self, spans: list[int]) -> list[int]:
        """The spans of ``spans`` (available ones) this range picks, ascending."""
        available = sorted(set(spans))
        if self.static_range is not None:
            r = self.static_range
            return [s for s in available if r.start_span_number <= s <= r.end_span_number]
        r = self.rolling_range
        return [s for s in available if s >= r.start_span_number][-r.num_spans:]


class FileExampleGenParameters(Parameters):
    """Parameters shared by the file-based ExampleGens (TFX names).

    Attributes:
        input_base: Directory the split patterns are relative to.
        input_config: Input splits as globs (``{SPAN}``, ``{VERSION}``, ``{YYYY}{MM}{DD}``).
        output_config: Output splits by hash buckets (default train:eval = 2:1).
        range_config: Spans to ingest (default: the latest span).
        on_bad_records: ``"fail"`` (default) or ``"quarantine"``.
        batch_size: Rows per record batch (Parquet input).
        on_schema_mismatch: Input files whose columns differ: ``"fail"`` (default; the
            error names the files and columns) or ``"union"`` (every column of every file;
            a file's missing columns are null, recorded in the custom property
            ``schema_union``).
    """

    input_base: str
    input_config: Input = Input()
    output_config: Output = Output()
    range_config: RangeConfig | None = None
    on_bad_records: Literal["fail", "quarantine"] = "fail"
    batch_size: int = pydantic.Field(65_536, ge=1)
    on_schema_mismatch: Literal["fail", "union"] = "fail"


class CsvExampleGenParameters(FileExampleGenParameters):
    """CSV parameters: ``delimiter`` (one character), Arrow ``column_types`` overrides (e.g.
    ``"int64"``), ``newlines_in_values`` (quoted values may hold newlines; read on one
    thread) and ``block_size``: bytes of a file parsed at once (default 16 MiB; a record
    longer than that needs a larger one). ``.gz``, ``.bz2`` and ``.xz`` files are
    decompressed."""

    delimiter: str = ","
    column_types: dict[str, str] = {}
    newlines_in_values: bool = False
    block_size: int = pydantic.Field(16 << 20, ge=1 << 16)

    @pydantic.field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1 or value in "\r\n\"":
            raise ValueError(f"delimiter must be one character other than a newline or '\"', "
                             f"got {value!r}; for a multi-character separator such as '::', "
                             f"convert the file first (e.g. sed 's/::/\\t/g') and use "
                             f"delimiter='\\t'")
        return value

    @pydantic.field_validator("column_types")
    @classmethod
    def _known_types(cls, value: dict[str, str]) -> dict[str, str]:
        for name, alias in value.items():
            try:
                pa.type_for_alias(alias)
            except ValueError as e:
                raise ValueError(f"column {name!r}: unknown Arrow type {alias!r} (use e.g. "
                                 f"'int64', 'float64', 'string', 'bool', 'timestamp[s]')") from e
        return value


def _to_table(value: Any) -> pa.Table:
    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    if type(value).__name__ == "DataFrame":
        return pa.Table.from_pandas(value, preserve_index=False)
    raise ValueError(f"expected a pandas DataFrame or a pyarrow Table, got {type(value).__name__}")


ArrowTable = Annotated[pa.Table, pydantic.BeforeValidator(_to_table)]


class ImportExampleGenParameters(Parameters):
    """Parameters of :class:`ImportExampleGen`: the ``table`` and the ``output_config``."""

    table: ArrowTable
    output_config: Output = Output()
    batch_size: int = pydantic.Field(65_536, ge=1)


class BeamSourceExampleGenParameters(Parameters):
    """Parameters of a Beam-source ExampleGen.

    Attributes:
        query: What to read, in the source's own terms (a SQL query, a topic, a table).
        custom_config: Anything else the source needs (connection names, options).
        output_config: Output splits by hash buckets (default train:eval = 2:1).
        span: Span recorded on the output (sources have no file patterns to take it from).
    """

    query: str = ""
    custom_config: dict[str, Any] = {}
    output_config: Output = Output()
    span: int = 0
