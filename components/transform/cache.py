"""The analyzer cache: accumulators per (dataset, analyzer), reused by the next run.

A ``TransformCache`` artifact holds ``<dataset key>/<analyzer fingerprint>.json`` files and an
``index.json``. The dataset key names one input Examples artifact's analysed data (span,
version, content fingerprint and analysed splits), the fingerprint names what an analyzer
reduces and how. A new run over spans 1..N+1 thus recomputes only span N+1's accumulators and
merges the cached ones. Only first-pass analyzers are cached: a later pass's inputs depend on
every span's results, not on one span alone.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from gristmill.components.transform.analyzers import accumulator_from_json
from gristmill.metadata.standard_artifacts import Examples

INDEX_FILE = "index.json"


def dataset_key(examples: Examples, analyze_splits: list[str]) -> str:
    """Stable name of one Examples artifact's analysed data.

    Ingredients: the ``span`` and ``version`` properties, the content fingerprint
    (``input_fingerprint`` property, else the artifact fingerprint, else its uri) and the
    analysed split names.
    """
    span = examples.get_property("span")
    version = examples.get_property("version")
    content = (examples.get_property("input_fingerprint") or examples.fingerprint
               or os.path.abspath(examples.uri))
    digest = hashlib.blake2b(json.dumps([content, sorted(analyze_splits)]).encode(),
                             digest_size=8).hexdigest()
    return f"span-{span if span is not None else 'none'}-v{version or 0}-{digest}"


def load_cache(uri: str, keys: list[str], fingerprints: set[str]) -> dict[str, dict[str, Any]]:
    """Cached accumulators: dataset key -> fingerprint -> accumulator (only those asked for)."""
    found: dict[str, dict[str, Any]] = {}
    for key in keys:
        folder = os.path.join(uri, key)
        if not os.path.isdir(folder):
            continue
        for fp in fingerprints:
            path = os.path.join(folder, f"{fp}.json")
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    entry = json.load(f)
                found.setdefault(key, {})[fp] = accumulator_from_json(
                    entry["kind"], entry["params"], entry["accumulator"])
    return found


def entry_json(kind: str, params: dict[str, Any], label: str, acc: Any) -> dict[str, Any]:
    """The JSON saved for one accumulator."""
    return {"kind": kind, "params": params, "label": label, "accumulator": acc.to_json()}


def write_entries(uri: str, key: str, entries: dict[str, dict[str, Any]]) -> int:
    """Write ``fingerprint -> entry_json`` under ``uri/key``; returns how many."""
    folder = os.path.join(uri, key)
    os.makedirs(folder, exist_ok=True)
    for fp, entry in entries.items():
        with open(os.path.join(folder, f"{fp}.json"), "w", encoding="utf-8") as f:
            json.dump(entry, f)
    return len(entries)


def write_index(uri: str, datasets: dict[str, dict[str, Any]]) -> None:
    """``index.json``: dataset key -> {uri, span, version, analyzers}."""
    with open(os.path.join(uri, INDEX_FILE), "w", encoding="utf-8") as f:
        json.dump(datasets, f, indent=2, sort_keys=True)
