"""Resolve ExampleGen input patterns to files: spans, versions, dates and a fingerprint.

A pattern such as ``data/span-{SPAN:2}/v{VERSION}/*.csv`` becomes a glob (to list files)
and a regex (to read span and version back out of each path). The latest span (or the
spans a :class:`RangeConfig` picks) and, per span, its latest version are selected.
"""

from __future__ import annotations

import datetime
import glob
import os
import re
from dataclasses import dataclass, field

from gristmill.components.example_gen.config import Input, RangeConfig, escapes_base
from gristmill.metadata.errors import ConfigError, DataError
from gristmill.metadata.fingerprint import fingerprint_files

_SPEC = re.compile(r"\{(SPAN|VERSION)(?::(\d+))?\}|\{(YYYY|MM|DD)\}")
_DATE_WIDTH = {"YYYY": 4, "MM": 2, "DD": 2}
_EPOCH = datetime.date(1970, 1, 1)


@dataclass
class ResolvedInput:
    """The files chosen for one ExampleGen run.

    Attributes:
        files: Input split name -> sorted absolute paths.
        span: The latest selected span (0 when patterns have no span spec).
        version: The version of that span, or ``None`` without a version spec.
        spans: Every selected span, ascending.
        fingerprint: Content hash of every chosen file (path, size and bytes).
        skipped: Files a wildcard matched but left out: not a data file by extension
            (a README, a ``.DS_Store``); the executor reports them.
    """

    files: dict[str, list[str]] = field(default_factory=dict)
    span: int = 0
    version: int | None = None
    spans: list[int] = field(default_factory=list)
    fingerprint: str = ""
    skipped: list[str] = field(default_factory=list)


def _glob_fragment_to_regex(text: str) -> str:
    return re.escape(text).replace(r"\*", "[^/]*").replace(r"\?", "[^/]")


def pattern_parts(pattern: str) -> tuple[str, re.Pattern]:
    """``(glob, regex)`` for a split pattern; the regex has groups span/version/y/m/d.

    Raises:
        ConfigError: The pattern mixes ``{SPAN}`` with date specs or repeats a spec.
    """
    glob_parts, regex_parts, seen, last = [], [], set(), 0
    for match in _SPEC.finditer(pattern):
        literal = pattern[last:match.start()]
        glob_parts.append(literal)
        regex_parts.append(_glob_fragment_to_regex(literal))
        name = match.group(1) or match.group(3)
        width = int(match.group(2)) if match.group(2) else _DATE_WIDTH.get(name)
        if name in seen:
            raise ConfigError(f"ExampleGen: pattern {pattern!r} has {{{name}}} twice.",
                              fix="use each of {SPAN}, {VERSION}, {YYYY}, {MM}, {DD} at most once")
        seen.add(name)
        glob_parts.append("?" * width if width else "*")
        digits = rf"\d{{{width}}}" if width else r"\d+"
        regex_parts.append(f"(?P<{name.lower()}>{digits})")
        last = match.end()
    glob_parts.append(pattern[last:])
    regex_parts.append(_glob_fragment_to_regex(pattern[last:]))
    dates = seen & set(_DATE_WIDTH)
    if "SPAN" in seen and dates:
        raise ConfigError(f"ExampleGen: pattern {pattern!r} mixes {{SPAN}} with date specs.",
                          fix="use either {SPAN} or {YYYY}{MM}{DD}, not both")
    if dates and dates != set(_DATE_WIDTH):
        raise ConfigError(f"ExampleGen: pattern {pattern!r} needs all of {{YYYY}}, {{MM}}, "
                          f"{{DD}}, got only {sorted(dates)}.", fix="add the missing date specs")
    return "".join(glob_parts), re.compile("".join(regex_parts) + r"\Z")


def _span_version(match: re.Match, path: str) -> tuple[int, int | None]:
    groups = match.groupdict()
    if groups.get("yyyy"):
        try:
            day = datetime.date(int(groups["yyyy"]), int(groups["mm"]), int(groups["dd"]))
        except ValueError as e:
            raise DataError(f"ExampleGen: {path} has an invalid date: {e}.", uri=path,
                            fix="rename the file or folder to a real calendar date") from e
        span = (day - _EPOCH).days
    else:
        span = int(groups["span"]) if groups.get("span") else 0
    version = int(groups["version"]) if groups.get("version") else None
    return span, version


def check_pattern(pattern: str) -> None:
    """Refuse a pattern that could reach outside ``input_base``.

    Raises:
        ConfigError: The pattern is absolute or has a ``..`` component.
    """
    if escapes_base(pattern):
        raise ConfigError(f"ExampleGen: input pattern {pattern!r} reaches outside input_base "
                          f"(an absolute path, '~' or a '..' component).",
                          fix="set input_base to the folder that holds the data and give "
                              "patterns relative to it, without '..'")


def _inside(path: str, base_real: str, input_base: str) -> str:
    """The resolved path of ``path``, refused when a symlink leads outside ``input_base``."""
    real = os.path.realpath(path)
    if real != base_real and not real.startswith(base_real.rstrip(os.sep) + os.sep):
        # Name the link and its target only: the target's content is never read or shown.
        raise DataError(f"ExampleGen: {path} resolves to {real}, outside input_base "
                        f"{input_base}; only files inside input_base are read.", uri=path,
                        fix="copy the file into input_base (or point input_base at the "
                            "folder that holds it) instead of linking to it")
    return real


def _is_data_file(path: str, pattern: str, extensions: tuple[str, ...] | None) -> bool:
    """Whether a matched file is data: any file a wildcard-free name picks, else by
    extension."""
    last = pattern.replace(os.sep, "/").rsplit("/", 1)[-1]
    if extensions is None or not any(c in last for c in "*?[{"):
        return True
    return path.lower().endswith(extensions)


def _scan(input_base: str, pattern: str, extensions: tuple[str, ...] | None,
          skipped: list[str]) -> dict[tuple[int, int | None], list[str]]:
    """All data files of one pattern grouped by (span, version); other matches go to
    ``skipped``."""
    check_pattern(pattern)
    glob_pattern, regex = pattern_parts(pattern)
    base_real = os.path.realpath(input_base)
    found: dict[tuple[int, int | None], list[str]] = {}
    for path in glob.glob(os.path.join(glob.escape(input_base), glob_pattern)):
        _inside(path, base_real, input_base)
        if not os.path.isfile(path):
            continue
        match = regex.match(os.path.relpath(path, input_base).replace(os.sep, "/"))
        if not match:
            continue
        if not _is_data_file(path, pattern, extensions):
            skipped.append(os.path.abspath(path))
            continue
        found.setdefault(_span_version(match, path), []).append(os.path.abspath(path))
    return found


def _pick_spans(found, range_config: RangeConfig | None, where: str) -> list[int]:
    spans = sorted({span for span, _ in found})
    chosen = range_config.select(spans) if range_config else spans[-1:]
    if not chosen:
        raise DataError(f"ExampleGen: no span of {where} is in {range_config}; available "
                        f"spans: {spans}.", fix="widen range_config or add the missing spans")
    return chosen


def resolve_input(input_base: str, input_config: Input,
                  range_config: RangeConfig | None = None,
                  extensions: tuple[str, ...] | None = None) -> ResolvedInput:
    """Choose the files to ingest: latest (or ranged) spans, latest version per span.

    Args:
        input_base: The folder every pattern is relative to; nothing outside it is read
            (symlinks are resolved first).
        input_config: The split patterns.
        range_config: Which spans to take (default: the latest).
        extensions: Lower-case endings of data files (e.g. ``(".csv", ".csv.gz")``); a
            wildcard match with another ending is skipped and listed in ``skipped``.

    Raises:
        ConfigError: A pattern reaches outside ``input_base``.
        DataError: A split matches no data file, a matched path resolves outside
            ``input_base``, or splits disagree on the chosen spans.
    """
    resolved = ResolvedInput()
    for split in input_config.splits:
        where = f"split {split.name!r} (pattern {split.pattern!r} under {input_base})"
        skipped: list[str] = []
        found = _scan(input_base, split.pattern, extensions, skipped)
        resolved.skipped.extend(skipped)
        if not found:
            others = (f"; it matched only {[os.path.basename(p) for p in skipped[:5]]}, which "
                      f"are not data files (expected names ending in {list(extensions)})"
                      if skipped else "")
            raise DataError(f"ExampleGen: {where} matches no data file{others}.",
                            uri=input_base,
                            fix="check input_base and the pattern; patterns are globs relative "
                                "to input_base (name a file exactly to read it whatever its "
                                "extension)")
        spans = _pick_spans(found, range_config, where)
        if resolved.spans and spans != resolved.spans:
            raise DataError(f"ExampleGen: {where} selects spans {spans} but split "
                            f"{input_config.splits[0].name!r} selects {resolved.spans}.",
                            fix="make every split hold the same spans")
        resolved.spans = spans
        files = []
        for span in spans:
            versions = [v for s, v in found if s == span]
            latest = max(versions, key=lambda v: -1 if v is None else v)
            files.extend(found[(span, latest)])
            if span == spans[-1]:
                resolved.version = latest
        resolved.files[split.name] = sorted(files)
    resolved.span = resolved.spans[-1]
    resolved.fingerprint = fingerprint_files(
        [p for paths in resolved.files.values() for p in paths], input_base)
    return resolved
