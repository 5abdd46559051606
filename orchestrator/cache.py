"""The cache key: one pure function of everything that determines a component's outputs.

A cache hit needs an earlier successful execution with the same key whose outputs are all
LIVE and whose files still match their fingerprints (checked by the launcher).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import threading
from collections.abc import Mapping, Sequence
from functools import cache, lru_cache
from importlib import metadata as importlib_metadata
from typing import Any

from gristmill.components.framework.base import BaseComponent
from gristmill.metadata.types import Artifact

_SMALL = 2000  # canonical parameter values longer than this are stored as digests
_SOURCE_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def gristmill_version() -> str:
    """The installed gristmill version."""
    try:
        return importlib_metadata.version("gristmill")
    except importlib_metadata.PackageNotFoundError:  # running from a bare checkout
        return "0+unknown"


def cache_ingredients(component: BaseComponent, inputs: Mapping[str, Sequence[Artifact]],
                      pipeline_name: str = "") -> dict[str, Any]:
    """Everything the cache key is made of, as a JSON-ready dict.

    Ingredients:
        pipeline: the pipeline's name, and
        node_id: the node's id: as in TFX, two nodes (or two pipelines) with the same
            definition do not share outputs, so lineage stays truthful.
        component_type: the component class's import path; for user components, its name
            and a digest of the class's and its executor's source.
        component_version: the class's ``VERSION`` (bumped when executor output changes).
        gristmill_version: the installed gristmill version.
        parameters: every parameter's canonical value (callables by their source, DataFrames
            and Arrow tables by content, long values by digest).
        module_files: the content hash of every user module file a parameter points at
            (``module_file``) and of the source file of every callable parameter.
        inputs: per input key, the content fingerprints of the resolved artifacts, in order.
        external_inputs: the component's fingerprint of data outside the store (ExampleGen's
            input files), from ``component.fingerprint_external_inputs()`` when defined.

    Beam pipeline args are deliberately left out: the runner changes how, not what.
    """
    cls = type(component)
    params, module_files = _canonical_parameters(component)
    external = getattr(component, "fingerprint_external_inputs", None)
    return {
        "pipeline": pipeline_name,
        "node_id": component.id,
        "component_type": component_identity(cls),
        "component_version": str(cls.VERSION),
        "gristmill_version": gristmill_version(),
        "parameters": params,
        "module_files": module_files,
        "inputs": {key: [a.fingerprint or f"id:{a.id}" for a in arts]
                   for key, arts in sorted(inputs.items())},
        "external_inputs": external() if callable(external) else None,
    }


@cache
def component_identity(cls: type) -> str:
    """Gristmill's own components by import path; user components by name and source.

    A user's component lives in a pipeline file that may be imported as ``__main__`` or
    under the CLI's module name, so its identity must not depend on the module name.
    Memoised per class: finding a class's source parses its whole module.
    """
    if cls.__module__.startswith("gristmill."):
        return f"{cls.__module__}.{cls.__qualname__}"
    sources = []
    for part in (cls, getattr(cls, "EXECUTOR", None)):
        try:
            sources.append(_getsource(part))
        except (OSError, TypeError):
            sources.append("")
    digest = hashlib.sha256("\n".join(sources).encode()).hexdigest()[:16]
    return f"user:{cls.__qualname__}@{digest}"


def cache_key(ingredients: Mapping[str, Any]) -> str:
    """The SHA-256 of the canonical JSON of :func:`cache_ingredients`."""
    blob = json.dumps(ingredients, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def describe_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Say, in user terms, which ingredients differ between two executions."""
    changes = []
    for field in ("pipeline", "node_id", "component_type", "component_version",
                  "gristmill_version", "external_inputs"):
        if old.get(field) != new.get(field):
            label = field.replace("_", " ")
            changes.append(f"{label} changed: {_short(old.get(field))} -> {_short(new.get(field))}")
    changes += _dict_changes("parameter", old.get("parameters", {}), new.get("parameters", {}))
    changes += _dict_changes("module file", old.get("module_files", {}),
                             new.get("module_files", {}))
    changes += _dict_changes("input", old.get("inputs", {}), new.get("inputs", {}))
    return changes


def _dict_changes(kind: str, old: Mapping[str, Any], new: Mapping[str, Any],
                  prefix: str = "") -> list[str]:
    """One line per changed leaf: nested dicts (a ``config`` model) are compared key by key,
    so the line names the path (``'config.learning_rate'``) and shows both values."""
    out = []
    for name in sorted(set(old) | set(new)):
        path = f"{prefix}{name}"
        if name not in old:
            out.append(f"{kind} {path!r} added: {_short(new[name])}")
        elif name not in new:
            out.append(f"{kind} {path!r} removed (was {_short(old[name])})")
        elif isinstance(old[name], Mapping) and isinstance(new[name], Mapping) and \
                old[name] != new[name]:
            out += _dict_changes(kind, old[name], new[name], f"{path}.")
        elif old[name] != new[name]:
            before, after = _short_pair(old[name], new[name])
            out.append(f"{kind} {path!r} changed: {before} -> {after}")
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _short_pair(old: Any, new: Any) -> tuple[str, str]:
    """Both values, shortened around their first difference (a common prefix would hide it)."""
    texts = [json.dumps(v, sort_keys=True, default=str) for v in (old, new)]
    if max(len(t) for t in texts) <= 80:
        return texts[0], texts[1]
    first = next((i for i, (a, b) in enumerate(zip(*texts, strict=False)) if a != b),
                 min(map(len, texts)))
    start = max(0, first - 20)
    return tuple(("..." if start else "") + t[start:start + 60] + ("..." if len(t) > start + 60
                                                                   else "") for t in texts)


def _canonical_parameters(component: BaseComponent) -> tuple[dict[str, Any], dict[str, str]]:
    params: dict[str, Any] = {}
    module_files: dict[str, str] = {}
    for name in type(component.parameters).model_fields:
        value = getattr(component.parameters, name)
        if name.endswith("module_file") and isinstance(value, str) and value:
            module_files[name] = _file_digest(value)
        if callable(value) and not isinstance(value, type):
            source_file = _source_file(value)
            if source_file:
                module_files[f"{name} source"] = _file_digest(source_file)
        params[name] = _canonical(value)
    return params, module_files


def _canonical(value: Any) -> Any:
    """A JSON-ready, deterministic stand-in for one parameter value."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "model_dump"):
        return _canonical(value.model_dump(mode="python"))
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_canonical(v) for v in value]
        return sorted(items, key=json.dumps) if isinstance(value, (set, frozenset)) else items
    if callable(value):
        return {"callable": getattr(value, "__qualname__", repr(value)),
                "source_sha256": _source_digest(value)}
    table_digest = _table_digest(value)
    if table_digest:
        return {"table_sha256": table_digest}
    text = repr(value)
    return text if len(text) <= _SMALL else {"sha256": hashlib.sha256(text.encode()).hexdigest()}


def _getsource(obj: Any) -> str:
    """``inspect.getsource`` under a lock.

    For classes, inspect parses the whole module with ``ast``, and CPython 3.11's ast is not
    thread-safe ("AST constructor recursion depth mismatch", cpython gh-106905); the
    LocalDagRunner computes cache keys on several worker threads at once.
    """
    with _SOURCE_LOCK:
        return inspect.getsource(obj)


def _source_digest(fn: Any) -> str:
    try:
        source = _getsource(fn)
    except (OSError, TypeError):
        source = getattr(getattr(fn, "__code__", None), "co_code", b"") or repr(fn)
    data = source.encode() if isinstance(source, str) else bytes(source)
    return hashlib.sha256(data).hexdigest()


def _source_file(fn: Any) -> str | None:
    try:
        path = inspect.getsourcefile(fn)
    except TypeError:
        return None
    # Only user code: library sources change only with a version bump.
    if path and os.path.isfile(path) and "site-packages" not in path:
        return path
    return None


def _table_digest(value: Any) -> str | None:
    """Content hash of a pandas DataFrame or Arrow table; None for other values."""
    kind = type(value).__module__.split(".")[0]
    if kind not in ("pandas", "pyarrow"):
        return None
    import pyarrow as pa

    table = pa.Table.from_pandas(value) if kind == "pandas" else value
    if not isinstance(table, (pa.Table, pa.RecordBatch)):
        return None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def _file_digest(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return f"missing:{path}"
