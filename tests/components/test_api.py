"""docs/api.md is the public surface: every name in its table imports from both paths it
gives, and every public name of the packages is in the table."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
ROW = re.compile(r"^\| `([\w.]+)` \| `(\w+)` \| `([\w.]+)` \|", re.MULTILINE)


def _rows() -> list[tuple[str, str, str]]:
    return ROW.findall(API_DOC.read_text(encoding="utf-8"))


def test_the_table_is_read():
    assert len(_rows()) >= 120


@pytest.mark.parametrize("public_module,name,defined_in", _rows(),
                         ids=lambda value: value if isinstance(value, str) else None)
def test_every_documented_name_imports_from_both_paths(public_module, name, defined_in):
    public = getattr(importlib.import_module(public_module), name)
    assert getattr(importlib.import_module(defined_in), name) is public


@pytest.mark.parametrize("module", ["gristmill.components", "gristmill.orchestrator",
                                    "gristmill.components.transform_ops"])
def test_every_public_name_is_documented(module):
    documented = {name for public, name, _ in _rows() if public == module}
    missing = set(importlib.import_module(module).__all__) - documented
    assert not missing, f"add these names of {module} to docs/api.md: {sorted(missing)}"
