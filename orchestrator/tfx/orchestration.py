"""``tfx.orchestration``: ``LocalDagRunner`` and ``metadata.sqlite_metadata_connection_config``."""

from __future__ import annotations

import os
from typing import Any

from gristmill.metadata.errors import ConfigError
from gristmill.orchestrator.tfx.namespace import Namespace, lazy, refusal


def sqlite_metadata_connection_config(metadata_db_uri: str) -> str:
    """TFX's helper: the SQLAlchemy URL of a SQLite store at ``metadata_db_uri`` (a path)."""
    os.makedirs(os.path.dirname(os.path.abspath(metadata_db_uri)), exist_ok=True)
    return f"sqlite:///{os.path.abspath(metadata_db_uri)}"


def metadata_url(config: Any) -> str | None:
    """The Gristmill store URL for a ``metadata_connection_config`` value.

    Raises:
        ConfigError: An MLMD ``ConnectionConfig`` proto or any other non-string value.
    """
    if config is None or isinstance(config, str):
        return config
    raise ConfigError(f"tfx.dsl.Pipeline(metadata_connection_config=...): expected the result "
                      f"of tfx.orchestration.metadata.sqlite_metadata_connection_config(path) "
                      f"or a database URL, got {type(config).__name__}.",
                      fix="pass sqlite_metadata_connection_config(path) or "
                          "'postgresql://user@host/db'")


metadata = Namespace("tfx.orchestration.metadata", {
    "sqlite_metadata_connection_config": sqlite_metadata_connection_config,
}, {"mysql_metadata_connection_config": "pass a SQLAlchemy URL string as "
                                        "metadata_connection_config='mysql+pymysql://...'"})

_NAMES = {"LocalDagRunner": lazy("gristmill.orchestrator.runner", "LocalDagRunner"),
          "metadata": metadata}
_REFUSED = {
    "experimental": "Kubeflow/Vertex runners: compile with `gristmill compile --target kfp`",
    "KubeflowDagRunner": "compile with `gristmill compile --target kfp`",
    "BeamDagRunner": "use tfx.orchestration.LocalDagRunner (Beam runs inside components)",
    "pipeline": "use tfx.dsl.Pipeline",
}


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        value = _NAMES[name]
        if isinstance(value, tuple):
            import importlib

            return getattr(importlib.import_module(value[0]), value[1])
        return value
    raise refusal("tfx.orchestration", name, _REFUSED, _NAMES)


__all__ = sorted(_NAMES)
