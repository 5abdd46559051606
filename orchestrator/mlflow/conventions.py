"""What a node did, in MLflow's own terms: flat params, dataset inputs, slice metrics, tags.

Everything here is pure (journal events in, plain values out) except the readers of an
artifact's files (an Evaluator's ``metrics.json``, a Parquet footer); nothing imports MLflow.
A value MLflow would refuse is skipped with a warning naming it, never sent to fail the
whole batch; a value cut to MLflow's length limit is named in a warning too.
"""

from __future__ import annotations

import getpass
import json
import logging
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gristmill.metadata.db_url import redact_text

log = logging.getLogger(__name__)

PARAM_VALUE_LIMIT = 6000  # MLflow 3's maximum param value length
KEY_LIMIT = 250  # MLflow's maximum param/metric/tag key length
DIGEST_LIMIT = 36  # MLflow's dataset digest column
#: Characters MLflow accepts in a metric or param name.
_NAME_OK = re.compile(r"[^/\w.\- :]")
#: Artifact types logged as MLflow datasets.
DATASET_TYPES = frozenset({"Examples"})
#: Slice metric keys: ``eval_<metric>/slice/<feature>:<value>[/<feature>:<value>]``.
SLICE_SEPARATOR = "/slice/"


def flatten_params(parameters: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested component parameters as searchable MLflow params: ``config.learning_rate``.

    Dicts become dotted keys; lists, ``None`` and other values are written as JSON (strings
    as they are). A value longer than MLflow's limit is cut and named in a warning.
    """
    flat: dict[str, str] = {}
    for key, value in parameters.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_params(value, f"{name}."))
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > PARAM_VALUE_LIMIT:
            log.warning("MLflow mirror: param %s is %d characters; MLflow keeps the first %d",
                        name, len(text), PARAM_VALUE_LIMIT)
            text = text[:PARAM_VALUE_LIMIT]
        flat[name] = text
    return flat


def run_tags(start: Mapping[str, Any]) -> dict[str, str]:
    """MLflow's source and user tags for every run of a journal's pipeline run."""
    tags = {"mlflow.source.type": "LOCAL"}
    if start.get("source"):
        tags["mlflow.source.name"] = str(start["source"])[:PARAM_VALUE_LIMIT]
    if start.get("user"):
        tags["mlflow.user"] = str(start["user"])
    return tags


def journal_origin() -> dict[str, str]:
    """``source`` (the command line that ran the pipeline, passwords hidden) and ``user``
    for the journal's start event."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment (a bare container uid)
        user = ""
    command = " ".join(["gristmill" if i == 0 else a for i, a in enumerate(sys.argv)])
    return {"source": redact_text(command), "user": user}


def dataset_refs(event: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(context, artifact ref)`` of each dataset a node read (``input``) or wrote
    (``output``), from its ``end_node`` event."""
    found = []
    for context, side in (("input", "inputs"), ("output", "outputs")):
        for refs in (event.get(side) or {}).values():
            found += [(context, r) for r in refs if r.get("type") in DATASET_TYPES]
    return found


def dataset_fields(ref: Mapping[str, Any], producers: Mapping[int, str]) -> dict[str, Any] | None:
    """MLflow dataset fields of one artifact ref: name, digest, source, schema, profile.

    The digest is the artifact's content fingerprint (its first 36 hex digits: MLflow's
    limit; the full one is in ``profile``); None (with a warning) for an artifact that has
    no fingerprint, which MLflow cannot identify.
    """
    fingerprint = str(ref.get("fingerprint") or "")
    if not fingerprint:
        log.warning("MLflow mirror: artifact #%s (%s) has no fingerprint; not logged as an "
                    "MLflow dataset", ref.get("id"), ref.get("uri"))
        return None
    producer = producers.get(ref["id"], ref.get("producer") or ref["type"])
    rows = ref.get("row_counts") or {}
    profile = {"fingerprint": fingerprint, "artifact_id": ref["id"],
               "num_rows": sum(int(n) for n in rows.values()), "splits": rows}
    return {"name": f"{producer}:{ref.get('key') or ref['type']} #{ref['id']}",
            "digest": fingerprint.split(":")[-1][:DIGEST_LIMIT], "source_type": "local",
            "source": json.dumps({"uri": ref["uri"]}), "schema": parquet_schema(ref["uri"]),
            "profile": json.dumps(profile)}


def parquet_schema(uri: str) -> str | None:
    """The columns of the first Parquet file under ``uri`` in MLflow's ``mlflow_colspec``
    form; None when there is none (the dataset is still logged, without a schema)."""
    first = next(iter(sorted(Path(uri).glob("*/*.parquet")) or sorted(Path(uri).glob(
        "*.parquet"))), None)
    if first is None:
        return None
    try:
        import pyarrow.parquet as pq

        schema = pq.read_schema(first)
    except Exception as e:  # an unreadable footer must not stop the mirror
        log.warning("MLflow mirror: no schema for dataset %s: %s", uri, e)
        return None
    return json.dumps({"mlflow_colspec": [{"name": f.name, "type": str(f.type)}
                                          for f in schema]})


def slice_metrics(evaluation_uri: str, prefix: str = "eval_") -> dict[str, float]:
    """An Evaluator's per-slice metrics as MLflow metrics (the Overall slice is already
    logged as ``eval_<metric>``).

    MLflow refuses ``=`` in metric names, so ``eval_accuracy/slice=island:Biscoe`` is written
    ``eval_accuracy/slice/island:Biscoe`` (several features: ``.../island:Biscoe/sex:male``);
    other refused characters in a value become ``_``. Two slices that would share a name are
    both skipped with a warning naming them.
    """
    path = Path(evaluation_uri) / "metrics.json"
    if not path.is_file():
        return {}
    metrics: dict[str, float] = {}
    clashes: set[str] = set()
    for entry in json.loads(path.read_text()).get("slices", []):
        if not entry.get("features"):
            continue
        where = "/".join(f"{_NAME_OK.sub('_', str(k))}:{_NAME_OK.sub('_', str(v))}"
                         for k, v in entry["features"])
        for name, value in ((entry.get("candidate") or {}).get("metrics") or {}).items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            key = f"{prefix}{name}{SLICE_SEPARATOR}{where}"
            if key in metrics:
                clashes.add(key)
            metrics[key] = float(value)
    for key in clashes:
        log.warning("MLflow mirror: two slices are both named %s in MLflow; neither logged", key)
        metrics.pop(key)
    too_long = [k for k in metrics if len(k) > KEY_LIMIT]
    if too_long:
        log.warning("MLflow mirror: %d slice metric(s) not logged: their names exceed MLflow's "
                    "%d characters (first: %s...)", len(too_long), KEY_LIMIT, too_long[0][:80])
    return {k: v for k, v in metrics.items() if len(k) <= KEY_LIMIT}
