"""Security: no unpickling of artifact data, confined paths, loopback binds, redacted URLs.

Checks, each counted as trials:

- static: every Python file of the code folders is parsed; calls that unpickle
  (``pickle``/``cloudpickle``/``dill``/``joblib`` loads, ``pandas.read_pickle``,
  ``numpy.load(allow_pickle=True)``, ``torch.load`` without ``weights_only=True``,
  ``torch.export.load``/``torch.jit.load``, unsafe ``yaml`` loads, ``marshal``/``shelve``)
  are failures, and so is a ``"0.0.0.0"`` literal;
- hostile artifacts: loaders get files crafted to run code when unpickled or called (a
  pickle in ``weights.safetensors``, a ``__reduce__`` payload in a checkpoint, a YAML
  python tag, a bundle naming ``os:system``) and must not run it;
- path confinement: node ids and split names that escape (``..``, ``/``, absolute) are
  refused, and artifact files naming paths outside their artifact are refused;
- binds: ``gristmill ui`` and the InfraValidator default to 127.0.0.1;
- redaction: URLs with passwords are hidden by ``redact_text``/``redact_url``, in store
  errors, in CLI errors and logs.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .common import REPO, HarnessResult
from .redaction import check_mlflow_params, check_redaction, cli_in_process  # noqa: F401

CODE_DIRS = ("components", "engine", "metadata", "orchestrator", "pipelines")
_ALWAYS_UNSAFE = {
    "pickle.load", "pickle.loads", "pickle.Unpickler", "cloudpickle.load", "cloudpickle.loads",
    "dill.load", "dill.loads", "joblib.load", "pandas.read_pickle", "marshal.load",
    "marshal.loads", "shelve.open", "yaml.unsafe_load", "yaml.full_load", "torch.export.load",
    "torch.jit.load", "_pickle.load", "_pickle.loads",
}
_SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader"}
# (file, call) -> why it reads no artifact data.
ALLOWED = {
    ("engine/export.py", "torch.export.load"): "re-loads the program it has just written, in "
                                               "its own staging directory, to verify it",
    ("components/beam/statistics/combine.py", "pickle.loads"):
        "unpacks the accumulator bytes StatsCombineFn.compact made in the same pipeline, "
        "between two Beam stages (Beam itself pickles what travels between stages); never "
        "reads a file",
}


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> dotted import path, from the file's import statements."""
    names = {"pd": "pandas", "np": "numpy"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def unsafe_call(call: ast.Call, aliases: dict[str, str]) -> str | None:
    """Why ``call`` may unpickle or run data, or None when it is safe."""
    name = _dotted(call.func, aliases)
    if name is None:
        return None
    if name in _ALWAYS_UNSAFE:
        return f"{name}() unpickles or runs code from the file"
    if name == "torch.load":
        weights_only = _keyword(call, "weights_only")
        if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
            return "torch.load() without weights_only=True"
    if name == "numpy.load":
        allow = _keyword(call, "allow_pickle")
        if isinstance(allow, ast.Constant) and allow.value is True or (
                allow is not None and not isinstance(allow, ast.Constant)):
            return "numpy.load(allow_pickle=...)"
    if name == "yaml.load":
        loader = _keyword(call, "Loader") or (call.args[1] if len(call.args) > 1 else None)
        loader_name = _dotted(loader, aliases) if loader is not None else None
        if not loader_name or loader_name.rsplit(".", 1)[-1] not in _SAFE_YAML_LOADERS:
            return "yaml.load() without SafeLoader"
    return None


def scan_file(path: Path) -> list[str]:
    """Unsafe deserialisation calls and all-interfaces binds in one Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    aliases = _aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            why = unsafe_call(node, aliases)
            name = _dotted(node.func, aliases)
            if why and (str(path.relative_to(REPO)), name) not in ALLOWED:
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {why}")
        elif isinstance(node, ast.Constant) and node.value in ("0.0.0.0", "::"):
            found.append(f"{path.relative_to(REPO)}:{node.lineno}: binds all interfaces "
                         f"({node.value!r})")
    return found


def python_files() -> Iterator[Path]:
    """Every Python file of the code folders."""
    for folder in CODE_DIRS:
        yield from sorted((REPO / folder).rglob("*.py"))


def check_static(result: HarnessResult) -> None:
    """One trial per source file: no unsafe deserialisation, no 0.0.0.0."""
    for path in python_files():
        try:
            found = scan_file(path)
        except SyntaxError as e:
            found = [f"{path}: cannot parse: {e}"]
        result.check(not found, "; ".join(found))


class _Payload:
    """Unpickling this creates the marker file: proof that data was unpickled."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def hostile_artifact_cases(tmp: Path) -> list[tuple[str, Callable[[Path, Path], None]]]:
    """(name, fn(artifact_dir, marker)) for each loader that reads artifact files."""

    def weights(uri: Path, marker: Path) -> None:
        from gristmill.engine.serving import WEIGHTS_FILE, load_model

        (uri / WEIGHTS_FILE).write_bytes(pickle.dumps(_Payload(str(marker))))
        # an allowed class, so the loader really reaches the weights file
        load_model(str(uri), {"model": {"class": "gristmill.engine.models:TabularMLP",
                                        "kwargs": {"num_numeric": 2, "cardinalities": [],
                                                   "num_outputs": 1}}})

    def bundle_class(uri: Path, marker: Path) -> None:
        from gristmill.engine.serving import load_model

        load_model(str(uri), {"model": {"class": "os:system",
                                        "kwargs": {"command": f"touch {marker}"}}})

    def checkpoint(uri: Path, marker: Path) -> None:
        import torch

        from gristmill.engine.checkpoint import CHECKPOINT_NAME, load_checkpoint

        torch.save({"model": _Payload(str(marker))}, uri / CHECKPOINT_NAME)
        model = torch.nn.Linear(2, 1)
        load_checkpoint(str(uri), model, torch.optim.SGD(model.parameters(), lr=0.1), None,
                        torch.Generator())

    def schema_yaml(uri: Path, marker: Path) -> None:
        from gristmill.components.framework.data_schema import load_schema

        (uri / "schema.yaml").write_text(
            f"!!python/object/apply:os.system ['touch {marker}']\n")
        load_schema(str(uri))

    def pickle_as_json(uri: Path, marker: Path) -> None:
        from gristmill.engine.transform_fn import FittedTransform

        (uri / "transform_fn.json").write_bytes(pickle.dumps(_Payload(str(marker))))
        FittedTransform.load(str(uri))

    return [("weights.safetensors holding a pickle", weights),
            ("bundle.json naming os:system", bundle_class),
            ("checkpoint with a __reduce__ payload", checkpoint),
            ("schema.yaml with a python tag", schema_yaml),
            ("transform_fn.json holding a pickle", pickle_as_json)]


def check_hostile_artifacts(result: HarnessResult, tmp: Path) -> None:
    """Loaders may fail on hostile files, but must never run what they carry."""
    for index, (name, case) in enumerate(hostile_artifact_cases(tmp)):
        uri = tmp / f"hostile-{index}"
        uri.mkdir()
        marker = tmp / f"PWNED-{index}"
        outcome = "loaded"
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                case(uri, marker)
        except Exception as e:  # refusing is the right outcome
            outcome = f"refused ({type(e).__name__})"
        result.check(not marker.exists(), f"hostile artifact, {name}: its payload ran "
                                          f"({outcome})")


def escaping_names() -> list[str]:
    """Names that would leave their directory if joined to a path."""
    return ["..", "../x", "../../etc", "a/../../b", "/abs", "/", "a/b", ".", ".hidden",
            "x/..", "..\\x", "", "a\x00b", "a\nb"]


def check_paths(result: HarnessResult, tmp: Path) -> None:
    """Node ids, split names and paths named inside artifacts stay confined."""
    from gristmill.metadata.errors import ConfigError
    from gristmill.metadata.standard_artifacts import Examples

    from .crash_pipeline import Source

    for name in escaping_names():
        try:
            Source().with_id(name)
            refused = False
        except ConfigError:
            refused = True
        result.check(refused, f"node id {name!r} was accepted by with_id()")
        try:
            uri = Examples(str(tmp / "ex")).split_uri(name)
            refused = not _inside(uri, tmp / "ex")
        except ConfigError:
            refused = True
        result.check(refused, f"split name {name!r} gives a path outside the artifact")
    for good in ("trainer_2", "Evaluator.v2", "a-b"):
        result.check(Source().with_id(good).id == good, f"node id {good!r} was refused")
    _check_paths_in_artifacts(result, tmp)


def _inside(path: str | Path, root: Path) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([real, base]) == base


def _check_paths_in_artifacts(result: HarnessResult, tmp: Path) -> None:
    """A TransformGraph or Model whose JSON names a file outside it must not be read."""
    from gristmill.engine.transform_fn import PLAN_FORMAT, FittedTransform

    secret = tmp / "secret.txt"
    secret.write_text("s3cret-token\n")
    graph = tmp / "graph"
    graph.mkdir()
    for name in (os.path.relpath(secret, graph), str(secret)):
        plan = {"format": PLAN_FORMAT, "steps": [], "raw_features": [], "outputs": [],
                "vocabularies": {"city": {"file": name}}}
        (graph / "transform_fn.json").write_text(json.dumps(plan))
        try:
            loaded = FittedTransform.load(str(graph)).vocabularies.get("city")
        except Exception:  # refusing is the right outcome
            loaded = None
        result.check(loaded != ["s3cret-token"], f"engine/transform_fn.py FittedTransform.load "
                                                 f"read vocabulary file {name!r} outside the "
                                                 "artifact")


def check_binds(result: HarnessResult) -> None:
    """The UI and the InfraValidator serve on loopback unless told otherwise."""
    from gristmill.orchestrator.cli import build_parser

    args = build_parser().parse_args(["ui"])
    result.check(args.host == "127.0.0.1", f"gristmill ui binds {args.host} by default")
    try:
        from gristmill.components.infra_validator import config as infra_validator
    except ImportError as e:
        result.check(False, f"cannot import the InfraValidator: {e}")
        return
    spec_class = getattr(infra_validator, "ServingSpec", None)
    if spec_class is None:
        result.check(False, "components/infra_validator/config.py has no ServingSpec to check")
        return
    result.check(spec_class().host == "127.0.0.1",
                 f"InfraValidator binds {spec_class().host} by default")
    try:
        spec_class(host="0.0.0.0")
        accepted = True
    except Exception:
        accepted = False
    result.check(not accepted, "InfraValidator accepted host 0.0.0.0")


def run(work: Path | None = None) -> dict:
    """All security checks; returns ``{trials, failures, details}``."""
    result = HarnessResult("security")
    with tempfile.TemporaryDirectory(prefix="gm-security-") as tmp:
        base = work or Path(tmp)
        for name, check in (("static", lambda: check_static(result)),
                            ("hostile", lambda: check_hostile_artifacts(result, base)),
                            ("paths", lambda: check_paths(result, base)),
                            ("binds", lambda: check_binds(result)),
                            ("redaction", lambda: check_redaction(result, base)),
                            ("mlflow", lambda: check_mlflow_params(result, base))):
            try:
                check()
            except Exception as e:  # a harness error is a failure; the other checks still run
                result.check(False, f"{name}: harness error {type(e).__name__}: {e}")
    return result.to_dict()
