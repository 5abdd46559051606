"""TFX's ``tfx.v1`` API tree over Gristmill: ``from gristmill.orchestrator import tfx_v1 as tfx``.

``tfx.components``, ``tfx.dsl``, ``tfx.types``, ``tfx.proto`` and ``tfx.orchestration`` map
TFX's names and keywords onto Gristmill's components, DSL and config models (see
docs/tfx_migration.md for the table). A TFX name with no Gristmill meaning raises
:class:`~gristmill.orchestrator.tfx.namespace.TfxNameError`, naming what to write instead.
"""

from gristmill.orchestrator.tfx import components, dsl, orchestration, proto, types
from gristmill.orchestrator.tfx.namespace import TfxNameError

__all__ = ["components", "dsl", "orchestration", "proto", "types", "TfxNameError"]
