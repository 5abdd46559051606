"""Transform: fit a ``preprocessing_fn`` on Beam, freeze it, apply it everywhere.

Modules: :mod:`.tracing` (symbolic columns), :mod:`.ops` / :mod:`.analyzer_ops` (the user
ops, re-exported by ``gristmill.components.transform_ops``), :mod:`.analyzers`
(accumulators), :mod:`.compiler` (graph + results -> plan), :mod:`.analysis` (analysis
passes), :mod:`.cache` (analyzer cache), :mod:`.files` (Parquet helpers), :mod:`.beam_io`
and :mod:`.pipeline` (the Beam side, imported only when the executor runs), :mod:`.spec`,
:mod:`.executor` and :mod:`.component`. The apply code lives in ``gristmill.engine.transform_fn``.
"""

import importlib

# Imported lazily so ``transform_ops`` (used inside preprocessing_fn modules) stays light.
_LAZY = {"Transform": "component", "TransformExecutor": "executor",
         "SplitsConfig": "spec", "TransformParameters": "spec"}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f"gristmill.components.transform.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'gristmill.components.transform' has no attribute {name!r}")
