"""Manual blessings as the Pusher reads them (written by ``gristmill bless``).

``gristmill bless MODEL_ID --reason TEXT`` (and ``--revoke``) records a ``ManualBlessing``
execution in the metadata store (input: the model; output: a ModelBlessing artifact); see
:mod:`gristmill.orchestrator.manual_blessing`. That artifact's files live at
``<GRISTMILL_HOME>/manual_blessings/<model key>/<time>-<execution id>/`` (``blessing.json``
and a ``BLESSED``/``NOT_BLESSED`` marker), where the model key is a digest of the model's
URI, so the Pusher finds the newest decision about *its* model by reading files, as it reads
every other input.

The Pusher's rule: the newest manual record for the model wins over the Evaluator's verdict.
A manual blessing lets a model the Evaluator did NOT bless be pushed; a revoke blocks a push
the Evaluator would allow. The InfraValidator's blessing is never overridden.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

MANUAL_DIR = "manual_blessings"


def manual_blessings_root() -> str:
    """``<GRISTMILL_HOME>/manual_blessings``."""
    from gristmill.metadata.settings import gristmill_home

    return os.path.join(str(gristmill_home()), MANUAL_DIR)


def canonical_model_uri(model_uri: str) -> str:
    """The URI manual records name a model by: absolute for a path, as is for a URL
    (``s3://...``: an object-store root)."""
    return model_uri if "://" in model_uri else os.path.abspath(model_uri)


def model_key(model_uri: str) -> str:
    """The folder name of one model's manual records: a digest of its canonical URI."""
    return hashlib.sha256(canonical_model_uri(model_uri).encode()).hexdigest()[:20]


def latest_manual_blessing(model_uri: str) -> dict[str, Any] | None:
    """The newest manual record (``blessing.json`` content) for the model at ``model_uri``,
    or ``None``. Records about another model URI (a digest clash) are ignored."""
    folder = os.path.join(manual_blessings_root(), model_key(model_uri))
    if not os.path.isdir(folder):
        return None
    for name in sorted(os.listdir(folder), reverse=True):
        if name.startswith("."):
            continue  # the staging folder of a bless still in progress
        path = os.path.join(folder, name, "blessing.json")
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            record = json.load(f)
        if record.get("model_uri") == canonical_model_uri(model_uri):
            return record
    return None


def ledger_fingerprint() -> str | None:
    """A digest of every manual record's path, for the Pusher's cache key: a new manual
    blessing or revoke makes the next run push (or refuse) afresh instead of reusing a
    cached verdict. ``None`` while no manual record exists (cache keys stay as before)."""
    root = manual_blessings_root()
    if not os.path.isdir(root):
        return None
    found = sorted(os.path.join(model, record) for model in os.listdir(root)
                   if os.path.isdir(os.path.join(root, model))
                   for record in os.listdir(os.path.join(root, model))
                   if not record.startswith(".")
                   and os.path.isfile(os.path.join(root, model, record, "blessing.json")))
    if not found:
        return None
    return hashlib.sha256("\n".join(found).encode()).hexdigest()


def describe(record: dict[str, Any]) -> str:
    """One line: ``manually blessed by alice at 2026-12-03T10:00:00Z: reason``."""
    verb = "manually blessed" if record["blessed"] else "manual blessing revoked"
    return (f"{verb} by {record['blessed_by']} at {record['blessed_at']} (execution "
            f"{record.get('execution_id')}): {record['reason']}")
