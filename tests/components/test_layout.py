"""The layout of components/: one package per component (docs/architecture.md).

A newcomer reads the tree in one look: the top level holds packages, ``__init__.py`` and the
public ``transform_ops`` module only; every component package has ``component.py`` (the spec)
and ``executor.py``; every package is in pyproject's package list, so a wheel ships it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = REPO / "components"
SHARED = {"framework", "beam"}
#: public modules allowed at the top of components/ besides __init__.py (at most two)
TOP_LEVEL_MODULES = {"__init__.py", "transform_ops.py", "tfma.py"}


def _packages() -> list[Path]:
    return sorted(p for p in COMPONENTS.iterdir() if p.is_dir() and p.name != "__pycache__")


def test_the_top_level_holds_packages_and_the_public_modules_only():
    files = {p.name for p in COMPONENTS.iterdir() if p.is_file()}
    assert files <= TOP_LEVEL_MODULES, f"modules at the top of components/: {files}"
    assert len(TOP_LEVEL_MODULES - {"__init__.py"}) <= 2
    assert all((p / "__init__.py").is_file() for p in _packages())


def test_every_component_package_has_its_spec_and_executor():
    components = [p for p in _packages() if p.name not in SHARED]
    assert len(components) >= 13
    missing = [f"{p.name}/{name}" for p in components for name in ("component.py", "executor.py")
               if not (p / name).is_file()]
    assert not missing, f"component packages without their spec/executor: {missing}"


def test_pyproject_lists_every_package_so_a_wheel_ships_it():
    text = (REPO / "pyproject.toml").read_text()
    listed = set(re.findall(r'"(gristmill\.components[a-z_.]*)"', text))
    on_disk = {".".join(["gristmill", *init.parent.relative_to(REPO).parts])
               for init in COMPONENTS.rglob("__init__.py") if "__pycache__" not in init.parts}
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages"
