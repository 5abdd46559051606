"""``from gristmill.orchestrator import tfx_v1 as tfx``: TFX's ``tfx.v1`` tree over Gristmill.

The facade lives in :mod:`gristmill.orchestrator.tfx`; this module is its TFX-shaped name.
Unknown top-level names (``tfx.extensions`` ...) raise an error naming the equivalent.
"""

from __future__ import annotations

from gristmill.orchestrator.tfx import (
    TfxNameError,
    components,
    dsl,
    orchestration,
    proto,
    types,
)
from gristmill.orchestrator.tfx.namespace import refusal

__all__ = ["components", "dsl", "orchestration", "proto", "types", "TfxNameError"]


def __getattr__(name: str):
    raise refusal("tfx", name, {
        "extensions": "cloud extensions (Vertex, BigQuery) are not supported; use "
                      "gristmill.components.BeamSourceExampleGen and the MLflow registry",
        "testing": "use pytest with a temporary GRISTMILL_HOME",
        "utils": "no TFX utils are needed; proto_utils.proto_to_json -> model.model_dump_json()",
    }, __all__)
