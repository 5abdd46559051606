"""Cut a CSV file into pieces of whole lines and parse each with pyarrow on all cores.

pyarrow's streaming CSV reader parses on one thread (0.39 s for 1M rows here); its
whole-file reader uses every core (0.25 s) but holds the file in memory. A piece of about
``chunk_bytes`` gets the best of both: ``read_csv`` on each piece, one piece parsed ahead
of the caller, memory bounded by a few pieces whatever the file's size.

pyarrow can mis-cut lines at its internal block boundaries when a line is nearly as long
as a block (seen with 1 MB lines and 1-3 MB blocks: two lines read as one bad row). Each
piece therefore accounts for its lines - rows parsed plus rows rejected must equal its
line count - and a piece that does not is parsed again as one block, on one thread.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pacsv

from gristmill.metadata.errors import DataError


@dataclass(frozen=True)
class Piece:
    """``data[:end]``: whole lines of one file.

    Attributes:
        names: The file's column names; ``None`` for the first piece, which starts with
            the header line (and any blank lines before it).
        head_lines: Lines before the first data row (the header and blank lines before it).
        first_line: Physical line number (1-based) of the piece's first line.
    """

    data: bytes
    end: int
    names: list[str] | None
    head_lines: int
    first_line: int

    @property
    def view(self) -> memoryview:
        """The piece's bytes, without a copy."""
        return memoryview(self.data)[:self.end]

    @property
    def line_count(self) -> int:
        """Lines in the piece (a last line without a newline counts)."""
        newlines = self.data.count(b"\n", 0, self.end)
        return newlines + (1 if self.end and self.data[self.end - 1] != ord("\n") else 0)

    def accounts_for(self, rows: int, rejected: int) -> bool:
        """Whether parsed and rejected rows cover every line but the head.

        Blank lines make this ``False`` too, which costs only a re-parse.
        """
        return rows + rejected == self.line_count - self.head_lines


def is_data_line(line: bytes) -> bool:
    """Whether ``line`` has content (pyarrow skips empty lines)."""
    return bool(line.rstrip(b"\r\n"))


COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}


def unreadable(path: str, error: Exception, block_size: int | None = None) -> DataError:
    """The error for a file pyarrow cannot parse at all."""
    if "straddl" in str(error):  # pyarrow's "straddles two block boundaries"
        return DataError(f"ExampleGen: a record of {path} is longer than the CSV parse block "
                         f"({block_size or 'the default'} bytes).", uri=path,
                         fix="pass CsvExampleGen(block_size=...) larger than the longest "
                             "record, e.g. block_size=64 << 20 for 64 MiB")
    return DataError(f"ExampleGen: cannot read {path}: {error}.", uri=path,
                     fix="check the file is UTF-8 CSV with the same header as the first "
                         "input file")


class _Decompressed:
    """A compressed file read forwards, with :meth:`seek` back into what was read since
    the last seek only (what :func:`chunks` needs to end a piece at a line end)."""

    def __init__(self, raw):
        self.raw = raw
        self.pushed = b""
        self.recent: list[bytes] = []

    def _take(self, data: bytes) -> bytes:
        self.recent.append(data)
        return data

    def read(self, n: int) -> bytes:
        head, self.pushed = self.pushed[:n], self.pushed[n:]
        return self._take(head + (self.raw.read(n - len(head)) if n > len(head) else b""))

    def readline(self) -> bytes:
        cut = self.pushed.find(b"\n") + 1
        if cut:
            line, self.pushed = self.pushed[:cut], self.pushed[cut:]
            return self._take(line)
        line, self.pushed = self.pushed + self.raw.readline(), b""
        return self._take(line)

    def seek(self, offset: int, whence: int) -> None:
        recent, self.recent = b"".join(self.recent), []
        if whence != os.SEEK_CUR or offset > 0 or -offset > len(recent):
            raise OSError("a compressed CSV can only step back into what was just read")
        if offset:
            self.pushed = recent[offset:] + self.pushed

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.raw.close()


def open_data(path: str):
    """The file's bytes, decompressed when its name ends in .gz, .bz2 or .xz."""
    module = COMPRESSED.get(os.path.splitext(path)[1].lower())
    if module is None:
        return open(path, "rb")
    return _Decompressed(importlib.import_module(module).open(path, "rb"))


def chunks(path: str, chunk_bytes: int, delimiter: str) -> Iterator[Piece]:
    """The file cut at line ends into pieces of about ``chunk_bytes``, each read once
    (a piece ends at its last newline; the next read starts right after it).

    Raises:
        DataError: The file cannot be read or has no header line.
    """
    try:
        with open_data(path) as f:
            head = _read_header(f, path)
            head_lines = head.count(b"\n")
            names = _header_names(head, delimiter)
            data, end = _whole_lines(f, head + f.read(chunk_bytes), chunk_bytes + len(head))
            piece = Piece(data, end, None, head_lines, 1)
            while True:
                yield piece
                line = piece.first_line + piece.data.count(b"\n", 0, piece.end)
                data = f.read(chunk_bytes)
                if not data:
                    return
                data, end = _whole_lines(f, data, chunk_bytes)
                piece = Piece(data, end, names, 0, line)
    except (OSError, EOFError) as e:  # EOFError: a truncated compressed file
        raise DataError(f"ExampleGen: cannot read {path}: {e}.", uri=path,
                        fix="check the file exists, is readable and, when compressed, "
                            "complete") from e


def _header_names(head: bytes, delimiter: str) -> list[str]:
    return pacsv.read_csv(pa.py_buffer(head.lstrip(b"\r\n")),
                          parse_options=pacsv.ParseOptions(delimiter=delimiter)).column_names


def csv_header(path: str, delimiter: str) -> list[str]:
    """The column names in the header line of ``path`` (compressed files included).

    Raises:
        DataError: The file cannot be read or has no header line.
    """
    try:
        with open_data(path) as f:
            return _header_names(_read_header(f, path), delimiter)
    except (OSError, EOFError, pa.ArrowInvalid) as e:
        raise DataError(f"ExampleGen: cannot read the CSV header of {path}: {e}.", uri=path,
                        fix="check the file exists, is readable and is CSV with a header") from e


def _read_header(f, path: str) -> bytes:
    """Blank lines, then the header line."""
    head = b""
    while True:
        line = f.readline()
        if not line:
            raise DataError(f"ExampleGen: {path} has no header line (it is empty or blank).",
                            uri=path, fix="remove the file or give it the first file's header")
        head += line
        if is_data_line(line):
            return head


def _whole_lines(f, data: bytes, asked: int) -> tuple[bytes, int]:
    """``(data, end)``: ``data`` up to its last newline, the file rewound to there."""
    end = data.rfind(b"\n") + 1
    if len(data) < asked:  # the end of the file
        return data, len(data)
    if end == 0:  # one line longer than a chunk
        data += f.readline()
        return data, len(data)
    f.seek(end - len(data), os.SEEK_CUR)
    return data, end


def parse_piece(piece: Piece, path: str, schema: pa.Schema, delimiter: str, handler,
                typed: bool, block_size: int | None = None, fill_missing: bool = False
                ) -> pa.Table:
    """Parse one piece: in ``block_size`` blocks on all cores, or as one block on one
    thread when ``block_size`` is ``None`` (pyarrow then numbers rejected rows).

    ``fill_missing`` reads the schema's columns the file lacks as nulls.

    Raises:
        pa.ArrowInvalid: Only when ``typed`` and a value does not convert.
        DataError: The piece cannot be parsed at all.
    """
    types = schema if typed else {name: pa.string() for name in schema.names}
    one_block = block_size is None
    try:
        return pacsv.read_csv(
            pa.py_buffer(piece.view),
            read_options=pacsv.ReadOptions(
                block_size=piece.end + 1 if one_block else block_size,
                use_threads=not one_block, column_names=piece.names),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=handler),
            convert_options=pacsv.ConvertOptions(column_types=types,
                                                 include_columns=list(schema.names),
                                                 include_missing_columns=fill_missing,
                                                 strings_can_be_null=True))
    except pa.ArrowInvalid as e:
        if typed and "conversion error" in str(e):
            raise
        if "straddl" in str(e) and not one_block:  # a record longer than a parse block
            return parse_piece(piece, path, schema, delimiter, handler, typed, None,
                               fill_missing)
        raise unreadable(path, e) from e
    except pa.ArrowKeyError as e:
        raise unreadable(path, e) from e


def read_ahead(tasks: Iterator[Callable[[], pa.Table]]) -> Iterator[pa.Table]:
    """Run each task on a helper thread while the caller consumes the previous result."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-read-ahead") as pool:
        pending = None
        for task in tasks:
            future = pool.submit(task)
            if pending is not None:
                yield pending.result()
            pending = future
        if pending is not None:
            yield pending.result()
