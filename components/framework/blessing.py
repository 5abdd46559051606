"""Reading a ModelBlessing: whether it allows a model to be pushed or used (Pusher, BulkInferrer).
"""

from __future__ import annotations

import os

from gristmill.metadata.standard_artifacts import Model
from gristmill.metadata.types import Artifact


def blessing_verdict(name: str, blessing: Artifact | None, model: Model) -> str | None:
    """Why ``blessing`` forbids pushing ``model``, or ``None`` when it allows it (or is absent)."""
    if blessing is None:
        return None
    blessed = blessing.get_custom_property("blessed")
    if blessed is None:  # fall back to the marker files, e.g. for an imported blessing
        blessed = 1 if os.path.exists(os.path.join(blessing.uri, "BLESSED")) else 0
    if int(blessed) != 1:
        message = blessing.get_custom_property("blessing_message") or "no reason recorded"
        return f"{name} says NOT blessed: {message}"
    blessed_id = blessing.get_custom_property("current_model_id")
    if blessed_id is not None and model.id is not None and int(blessed_id) != int(model.id):
        return (f"{name} blessed model {blessed_id}, not this model {model.id}; refusing to push "
                "a model that was not the one evaluated")
    return None
