"""The store-side checks of ``dag_e2e.py``: every node COMPLETE, same outputs, then cached.

"Same outputs" compares every file of every output artifact of the orchestrated run with
the local reference run. Two runs of the same pipeline differ, by design, only in
(1) absolute paths (the homes differ, and each output lives under its execution's token);
(2) measured durations (the Trainer's seconds per epoch, the InfraValidator's load time);
(3) ids: process ids, ids the store assigns (artifact ids, in reports too, and the
InfraValidator's ``model_name``, which is one), MLflow's per-save ``model_uuid``,
``utc_time_created`` and ``model_size_bytes``; (4) run ids, which reports and the model card
name, and so the fingerprints of those reports' artifacts, which the model card quotes. So
before comparing, absolute paths under either home become ``<PATH>``, run ids ``<RUN>``,
``blake2b:`` fingerprints ``<FINGERPRINT>`` (every file is compared itself),
``<number>s`` durations ``<DURATION>``, ``'id': <number>`` in text ``id: <ID>``, and
JSON/YAML keys and CSV columns holding (2) and (3) are dropped.
Everything else (Parquet files, weights, statistics, metrics, schemas, reports) must be
byte-identical; each difference is named.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import yaml

from gristmill.metadata.store import PIPELINE_RUN, open_store
from gristmill.metadata.types import ExecutionState
from gristmill.orchestrator.cli_commands import load_pipeline
from gristmill.orchestrator.compiler import compile_pipeline

_VOLATILE_KEY = re.compile(r"seconds|_time$|^time$|timestamp|time_created|uuid|size_bytes|"
                           r"^pid$|^id$|_id$|^model_name$")
_DURATION = re.compile(r"\b\d+(?:\.\d+)?s\b")  # "loaded in 8.18s"
# An input's content hash: its files are compared themselves, and some legitimately differ
# (reports name their run), so the hash quoted by a later artifact (the model card) is masked.
_FINGERPRINT = re.compile(r"blake2b:[0-9a-f]{16,64}")  # shown shortened in HTML
# A timing shown in an HTML table ("training epoch_seconds | 0.0073" on the model card).
_SECONDS_CELL = re.compile(r"(seconds</td>\s*<td[^>]*>)[^<]*")
# Store ids of artifacts and executions: parallel nodes (the two ExampleGens) register in
# either order and kfp's local runner records a different number of executions, so "model
# 14", "Candidate model #14", "Examples (artifact 1, span 0)", "execution 12" and the lineage
# table's artifact column may hold other numbers in the other home.
_ARTIFACT_ID = re.compile(r"\b(artifact|model|execution|Model|Examples) #?\d+\b")
_ARTIFACT_CELL = re.compile(r"(<td class='l'>)\d+"
                            r"(</td><td class='l'>\w+</td><td class='l'>\w+</td>)")
_ARTIFACT_LABEL_CELL = re.compile(r"(artifact</td><td[^>]*>)\d+")  # "model artifact | 14"
_STORE_ID = re.compile(r"(['\"]|&#x27;|&quot;)id\1:\s*\d+")  # "{'id': 14, ..." in a report
_TEXT_SUFFIXES = (".json", ".yaml", ".yml", ".txt", ".csv", ".html", ".md")
NO_CACHE_TYPES = {"Resolver"}  # reads the store each run; the local runner never caches it


def _store(home: Path):
    return open_store(f"sqlite:///{home / 'metadata.db'}")


def _strip_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_volatile(v) for k, v in value.items() if not _VOLATILE_KEY.search(k)}
    if isinstance(value, list):
        return [_strip_volatile(v) for v in value]
    return value


def normalised(path: Path, homes: list[Path], run_ids: tuple[str, ...] = ()) -> bytes:
    """A file's bytes with home paths, run ids, durations and per-save ids taken out."""
    data = path.read_bytes()
    if path.suffix not in _TEXT_SUFFIXES and path.name != "MLmodel":
        return data
    text = data.decode("utf-8", errors="replace")
    for run_id in sorted(run_ids, key=len, reverse=True):  # reports name their run
        text = text.replace(run_id, "<RUN>")
    for home in homes:
        text = re.sub(re.escape(str(home)) + r"[^\s\"',)\]]*", "<PATH>", text)
    text = _DURATION.sub("<DURATION>", text)
    text = _FINGERPRINT.sub("<FINGERPRINT>", text)
    text = _SECONDS_CELL.sub(r"\1<SECONDS>", text)
    text = _ARTIFACT_ID.sub(r"\1 <ID>", text)
    text = _ARTIFACT_LABEL_CELL.sub(r"\1<ID>", text)
    text = _ARTIFACT_CELL.sub(r"\1<ID>\2", text)
    with contextlib.suppress(ValueError, yaml.YAMLError):
        if path.suffix == ".json":
            return json.dumps(_strip_volatile(json.loads(text)), sort_keys=True).encode()
        if path.suffix in (".yaml", ".yml") or path.name == "MLmodel":
            return yaml.safe_dump(_strip_volatile(yaml.safe_load(text)), sort_keys=True).encode()
        if path.suffix == ".csv":
            rows = list(csv.reader(io.StringIO(text)))
            keep = [i for i, name in enumerate(rows[0]) if not _VOLATILE_KEY.search(name)]
            return "\n".join(",".join(row[i] for i in keep) for row in rows).encode()
    return _STORE_ID.sub("id: <ID>", text).encode()


def compare_trees(left: Path, right: Path, homes: list[Path],
                  run_ids: tuple[str, ...] = ()) -> list[str]:
    """Relative paths that differ (or exist on one side only) after normalising."""
    def files(root: Path) -> dict[str, Path]:
        if root.is_file():
            return {root.name: root}
        return {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}

    a, b = files(left), files(right)
    differ = sorted(set(a) ^ set(b))
    differ += [rel for rel in sorted(set(a) & set(b))
               if normalised(a[rel], homes, run_ids) != normalised(b[rel], homes, run_ids)]
    return differ


def _outputs_by_node(store, run_id: str) -> dict[str, tuple[Any, dict]]:
    found = {}
    for execution in store.list_executions(run_id=run_id):
        if execution.state.succeeded or execution.component_id not in found:
            found[execution.component_id] = (execution, store.get_outputs(execution.id))
    return found


def _run_ids(store, pipeline_name: str) -> list[str]:
    runs = [c for c in store.list_contexts(PIPELINE_RUN)
            if c.properties.get("pipeline") == pipeline_name]
    return [c.name for c in sorted(runs, key=lambda c: c.properties.get("start_time", 0))]


def verify(pipeline_file: Path, params: list[str], local_home: Path, home: Path
           ) -> dict[str, Any]:
    """The e2e verdict (see the module doc)."""
    pipeline, _ = load_pipeline(str(pipeline_file), params)
    compiled = compile_pipeline(pipeline)
    nodes = {n: compiled.nodes[n].component.type_name for n in compiled.order}
    with _store(local_home) as store:
        local_run = _run_ids(store, pipeline.name)[0]
        local = _outputs_by_node(store, local_run)
    with _store(home) as store:
        runs = _run_ids(store, pipeline.name)
        if len(runs) != 2:
            return {"status": "FAILED", "error": f"expected 2 runs in the store, found {runs}",
                    "nodes": len(nodes), "nodes_complete": 0, "cached_second_run": False}
        first, second = (_outputs_by_node(store, r) for r in runs)
        statuses = [store.get_context(PIPELINE_RUN, r).properties.get("status") for r in runs]
    states = {n: first[n][0].state.value if n in first else "MISSING" for n in nodes}
    second_states = {n: second[n][0].state.value if n in second else "MISSING" for n in nodes}
    complete = [n for n, s in states.items() if s == ExecutionState.COMPLETE.value]
    cached = all(s == "CACHED" or (nodes[n] in NO_CACHE_TYPES and s == "COMPLETE")
                 for n, s in second_states.items())
    mismatches = []
    for node in nodes:
        if node not in first or node not in local:
            mismatches.append(f"{node}: missing from a run")
            continue
        mine, theirs = first[node][1], local[node][1]
        if sorted(mine) != sorted(theirs):
            mismatches.append(f"{node}: output keys {sorted(mine)} != local {sorted(theirs)}")
            continue
        for key in mine:
            for a, b in zip(mine[key], theirs[key], strict=True):
                for rel in compare_trees(Path(a.uri), Path(b.uri), [home, local_home],
                                         (local_run, *runs)):
                    mismatches.append(f"{node}.{key}: {rel}")
    ok = len(complete) == len(nodes) and cached and not mismatches and \
        statuses == ["COMPLETE", "COMPLETE"]
    return {"status": "COMPLETE" if ok else "FAILED", "nodes": len(nodes),
            "nodes_complete": len(complete), "cached_second_run": cached,
            "same_outputs_as_local": not mismatches, "mismatches": mismatches[:20],
            "run_ids": runs, "run_statuses": statuses, "first_run": states,
            "second_run": second_states}
