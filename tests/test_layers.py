"""The layer rules of docs/architecture.md, checked on the source with ``ast``.

``pipelines -> orchestrator -> components -> engine``; ``gristmill.metadata`` types and
errors are importable by all, the metadata *store* (``metadata.store``, ``metadata.sql``)
only by the orchestrator (and metadata itself, and tests). ``engine`` imports nothing of
Gristmill but its own modules, and no third-party library other than torch, numpy, pyarrow
and safetensors at module level (others lazily, inside functions).

Inside ``components/``: one package per component. A component package imports its own
modules, the framework package (``components/framework/``), the shared Beam plumbing
(``components/beam/``), engine and metadata types, never another component's package: what
two components share moves to the framework package (or ``beam/`` for Beam code). The
framework and ``beam/`` import no component package.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parent.parent
#: source folder -> the package it is installed as (None: plain scripts)
LAYERS = {"metadata": "gristmill.metadata", "engine": "gristmill.engine",
          "components": "gristmill.components", "orchestrator": "gristmill.orchestrator",
          "pipelines": None}
ENGINE_THIRD_PARTY = {"torch", "numpy", "pyarrow", "safetensors"}
STORE_MODULES = ("gristmill.metadata.store", "gristmill.metadata.sql")
#: the packages under components/ that every component may import
SHARED_COMPONENT_PACKAGES = ("framework", "beam")
#: public top-level modules of components/ and the component package each belongs to
PUBLIC_MODULES = {"transform_ops": "transform"}


@dataclass(frozen=True)
class Import:
    """One imported module name, where, and whether it runs when the module is imported."""

    module: str
    line: int
    top_level: bool


class _ImportCollector(ast.NodeVisitor):
    def __init__(self, package: str | None):
        self.package = package
        self.depth = 0  # >0 inside a function: a lazy import
        self.type_only = 0  # >0 inside `if TYPE_CHECKING:`: never runs
        self.found: list[Import] = []

    def _add(self, module: str, node: ast.AST) -> None:
        self.found.append(Import(module, node.lineno, self.depth == 0 and not self.type_only))

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node)

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        if name != "TYPE_CHECKING":
            self.generic_visit(node)
            return
        self.type_only += 1
        for child in node.body:
            self.visit(child)
        self.type_only -= 1
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            base = (self.package or "").rsplit(".", node.level - 1)[0] if node.level > 1 \
                else self.package or ""
            module = f"{base}.{module}" if module else base
        self._add(module, node)
        for alias in node.names:  # `from gristmill.metadata import store` imports a module
            self._add(f"{module}.{alias.name}", node)


def imports_of(path: Path, package: str | None) -> list[Import]:
    """Every import in ``path``; ``package`` resolves relative imports."""
    collector = _ImportCollector(package)
    collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return collector.found


def _package_of(path: Path, root: Path, layer: str) -> str | None:
    base = LAYERS[layer]
    if base is None:
        return None
    parts = list(path.relative_to(root / layer).parent.parts)
    return ".".join([base, *parts])


def _within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def component_package(module: str | None) -> str | None:
    """``"trainer"`` for ``gristmill.components.trainer.executor``; ``None`` outside a package
    of components/ (the top-level ``gristmill.components`` itself included)."""
    prefix = "gristmill.components."
    if not module or not module.startswith(prefix):
        return None
    first = module[len(prefix):].split(".")[0]
    return PUBLIC_MODULES.get(first, first)


def layer_violations(layer: str, imports: list[Import], package: str | None = None) -> list[str]:
    """What breaks the layer rules among one file's imports of layer ``layer``.

    ``package`` is the file's own package (``gristmill.components.trainer``), which the
    one-package-per-component rule needs. One problem per import statement and rule:
    ``from gristmill.x import a, b`` is reported as ``gristmill.x`` only.
    """
    problems: dict[tuple[int, str], str] = {}
    for imp in imports:
        for rule, problem in _rule_violations(layer, imp, component_package(package)):
            problems.setdefault((imp.line, rule), problem)
    return [problems[k] for k in sorted(problems)]


def _cross_component(own: str | None, module: str) -> str | None:
    """The problem when component package ``own`` imports ``module``, or ``None``."""
    if own is None:
        return None  # the top-level public modules may re-export any package
    if module == "gristmill.components":
        return (f"components/{own}/ imports gristmill.components itself (which reaches every "
                "component); import the framework or beam module that defines the name")
    other = component_package(module)
    if other is None or other == own or other in SHARED_COMPONENT_PACKAGES:
        return None
    if own in SHARED_COMPONENT_PACKAGES:
        return f"the shared package components/{own}/ imports the component package {module}"
    return (f"components/{own}/ imports another component's package ({module}); move what "
            "both use to components/framework/ (or components/beam/ for Beam code)")


def _rule_violations(layer: str, imp: Import, own_package: str | None = None
                     ) -> list[tuple[str, str]]:
    """``(rule, problem)`` for each rule one imported module breaks; ``own_package`` is the
    component package the importing file belongs to."""
    module, where = imp.module, f"line {imp.line}"
    top = module.split(".")[0]
    problems = []
    if layer == "engine" and _within(module, "gristmill") and not _within(module,
                                                                          "gristmill.engine"):
        problems.append(("engine-ours", f"{where}: engine imports {module}"))
    if (layer == "engine" and imp.top_level and top not in sys.stdlib_module_names
            and top not in ENGINE_THIRD_PARTY | {"gristmill", "__future__"}):
        problems.append(("engine-third-party", f"{where}: engine imports {top} at module level "
                         f"(allowed: {sorted(ENGINE_THIRD_PARTY)}; import it lazily)"))
    if layer == "components" and _within(module, "gristmill.orchestrator"):
        problems.append(("components", f"{where}: components import {module}"))
    if layer == "components" and (cross := _cross_component(own_package, module)):
        problems.append(("one-package-per-component", f"{where}: {cross}"))
    if layer == "metadata" and _within(module, "gristmill.components", "gristmill.orchestrator",
                                       "gristmill.engine"):
        problems.append(("metadata", f"{where}: metadata imports {module}"))
    if layer not in ("orchestrator", "metadata") and _within(module, *STORE_MODULES):
        problems.append(("store", f"{where}: {layer} imports the metadata store ({module}); "
                                  "only the orchestrator may"))
    return problems


def scan(root: Path) -> dict[str, list[str]]:
    """``"layer/file.py" -> violations`` for every .py file under the layer folders."""
    found = {}
    for layer in LAYERS:
        for path in sorted((root / layer).rglob("*.py")):
            if "migrations" in path.parts and "versions" in path.parts:
                continue  # alembic revisions are generated, and never import our code
            package = _package_of(path, root, layer)
            problems = layer_violations(layer, imports_of(path, package), package)
            if problems:
                found[str(path.relative_to(root))] = problems
    return found


def test_the_repository_keeps_its_layers():
    violations = scan(REPO)
    report = "\n".join(f"{file}: {problem}" for file, problems in violations.items()
                       for problem in problems)
    assert not violations, f"layer violations:\n{report}"


def test_every_layer_folder_is_scanned():
    for layer in LAYERS:
        assert list((REPO / layer).rglob("*.py")), f"no Python files under {layer}/"


@pytest.mark.parametrize("layer,source,expected", [
    ("engine", "from gristmill.components.framework.base import Parameters\n",
     "engine imports gristmill.components.framework.base"),
    ("engine", "import pandas as pd\n", "engine imports pandas at module level"),
    ("engine", "try:\n    import mlflow\nexcept ImportError:\n    mlflow = None\n",
     "engine imports mlflow at module level"),
    ("components", "def f():\n    from gristmill.orchestrator import runner\n",
     "components import gristmill.orchestrator"),
    ("components", "from gristmill.metadata import store\n",
     "components imports the metadata store (gristmill.metadata.store)"),
    ("metadata", "from ..engine import training\n", "metadata imports gristmill.engine"),
    ("pipelines", "from gristmill.metadata.sql.store import SqlMetadataStore\n",
     "pipelines imports the metadata store"),
])
def test_the_checker_catches_violations(tmp_path, layer, source, expected):
    (tmp_path / layer).mkdir()
    (tmp_path / layer / "bad.py").write_text(source)
    violations = scan(tmp_path)
    assert list(violations) == [f"{layer}/bad.py"]
    assert any(expected in problem for problem in violations[f"{layer}/bad.py"])


@pytest.mark.parametrize("package,source,expected", [
    ("tuner", "from gristmill.components.trainer.executor import resolve_run_fn\n",
     "components/tuner/ imports another component's package"),
    ("tuner", "def f():\n    from gristmill.components.pusher.config import Versioning\n",
     "components/tuner/ imports another component's package"),
    ("bulk_inferrer", "from gristmill.components import Pusher\n",
     "imports gristmill.components itself"),
    ("evaluator", "import gristmill.components.transform_ops as gt\n",
     "another component's package (gristmill.components.transform_ops)"),
    ("framework", "from gristmill.components.statistics_gen.config import X\n",
     "the shared package components/framework/ imports the component package"),
    ("beam", "from ..trainer import run\n", "the shared package components/beam/ imports"),
])
def test_the_checker_keeps_component_packages_apart(tmp_path, package, source, expected):
    (tmp_path / "components" / package).mkdir(parents=True)
    (tmp_path / "components" / package / "bad.py").write_text(source)
    violations = scan(tmp_path)
    assert list(violations) == [f"components/{package}/bad.py"]
    assert any(expected in problem for problem in violations[f"components/{package}/bad.py"])


@pytest.mark.parametrize("package,source", [
    ("tuner", "from gristmill.components.tuner.space import Dimension\n"
              "from gristmill.components.framework.fn_args import FnArgs\n"
              "from gristmill.components.beam.pipeline import make_beam_pipeline\n"
              "from . import config\n"),
    ("transform", "from gristmill.components.transform_ops import scale_to_z_score\n"),
    ("beam", "from gristmill.components.framework.statistics_model import save_statistics\n"),
])
def test_the_checker_allows_own_framework_and_beam_imports(tmp_path, package, source):
    (tmp_path / "components" / package).mkdir(parents=True)
    (tmp_path / "components" / package / "ok.py").write_text(source)
    assert scan(tmp_path) == {}


@pytest.mark.parametrize("layer,source", [
    ("engine", "import json\nimport numpy as np\nfrom . import data\n"
               "from gristmill.engine.data import load\n"),
    ("engine", "def export():\n    import onnx\n    return onnx\n"),
    ("engine", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pandas\n"),
    ("components", "from gristmill.metadata.types import Artifact\n"
                   "from gristmill.engine.training import fit\n"),
    ("orchestrator", "from gristmill.metadata.store import open_store\n"),
    ("pipelines", "from gristmill.orchestrator import Pipeline\n"
                  "from gristmill.metadata.standard_artifacts import Examples\n"),
])
def test_the_checker_allows_what_the_rules_allow(tmp_path, layer, source):
    (tmp_path / layer).mkdir()
    (tmp_path / layer / "ok.py").write_text(source)
    assert scan(tmp_path) == {}
