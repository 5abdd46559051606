"""The building block of the ``tfx.v1`` facade: a namespace that explains what it lacks.

TFX pipeline files reach names through dotted paths (``tfx.dsl.experimental.X``). Each level
of the facade is a :class:`Namespace`: known names resolve (lazily, so importing the facade
stays cheap), and a TFX name that has no Gristmill meaning raises :class:`TfxNameError`,
which says what to write instead. It subclasses ``AttributeError`` too, so ``hasattr`` and
``getattr(x, name, default)`` keep working.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from gristmill.metadata.errors import ConfigError, did_you_mean


class TfxNameError(ConfigError, AttributeError):
    """A TFX name Gristmill does not offer; the message names the Gristmill equivalent."""


def lazy(module: str, name: str | None = None) -> tuple[str, str | None]:
    """A lazily imported value: ``name`` from ``module`` (or the module itself)."""
    return (module, name)


class Namespace:
    """One level of the facade (``tfx.dsl``, ``tfx.proto`` ...).

    Args:
        path: The TFX dotted path it stands for, for messages (``tfx.dsl.experimental``).
        names: Name -> value, or a :func:`lazy` ``(module, attribute)`` pair.
        refused: TFX name -> what to write instead in Gristmill.
    """

    def __init__(self, path: str, names: Mapping[str, Any],
                 refused: Mapping[str, str] | None = None):
        self._path = path
        self._names = dict(names)
        self._refused = dict(refused or {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self._names:
            value = self._names[name]
            if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
                module = importlib.import_module(value[0])
                value = module if value[1] is None else getattr(module, value[1])
                self._names[name] = value
            return value
        raise refusal(self._path, name, self._refused, self._names)

    def __dir__(self) -> list[str]:
        return sorted(self._names)

    def __repr__(self) -> str:
        return f"<gristmill facade for {self._path}>"


def refusal(path: str, name: str, refused: Mapping[str, str],
            known: Mapping[str, Any] | list[str]) -> TfxNameError:
    """The error for ``path.name``: the Gristmill equivalent when there is one."""
    if name in refused:
        return TfxNameError(f"{path}.{name} has no Gristmill counterpart.",
                            fix=refused[name])
    return TfxNameError(f"{path}.{name} is not a TFX name Gristmill knows."
                        f"{did_you_mean(name, list(known))}",
                        fix=f"use one of {sorted(known)}; see docs/tfx_migration.md")
