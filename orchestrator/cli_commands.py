"""Implementations of the ``gristmill`` commands (imported only when a command runs)."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import os
import shlex
import sys
import traceback
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gristmill.metadata.db_url import redact_values
from gristmill.metadata.errors import ConfigError, GristmillError, did_you_mean
from gristmill.metadata.settings import redact_text
from gristmill.orchestrator.dsl import Pipeline
from gristmill.orchestrator.hooks import NodeResult, PipelineHooks, RunInfo

# soft_wrap: a long resume command must stay one copy-pasteable line. User text (errors,
# paths, ids) goes through escape(): "[/tmp/x]" in a message is not markup; emoji=False:
# data text such as "bob:x:101" must print as it is, not with ":x:" as an emoji.
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
out = Console(highlight=False, soft_wrap=True, emoji=False)
_STATE_STYLE = {"COMPLETE": "green", "CACHED": "cyan", "FAILED": "bold red",
                "CANCELED": "yellow"}


def load_pipeline(file: str, raw_params: list[str],
                  with_defaults: bool = False) -> tuple[Pipeline, dict[str, Any]]:
    """Import ``file`` and call its ``create_pipeline`` with ``--param`` values; the params
    returned include ``create_pipeline``'s defaults when ``with_defaults`` (what a run
    records and shows in MLflow)."""
    path = Path(file)
    if not path.is_file():
        raise ConfigError(f"pipeline file {file!r} does not exist.",
                          fix="pass the path of a .py file that defines create_pipeline()")
    module = _import_file(path)
    factory = getattr(module, "create_pipeline", None)
    if not callable(factory):
        raise ConfigError(f"{file}: expected a function create_pipeline(**params) returning a "
                          "Pipeline; none found.", fix="define create_pipeline() in the file")
    params = _parse_params(factory, raw_params, file)
    try:
        pipeline = factory(**params)
    except GristmillError:
        raise  # already names the component and the fix
    except Exception as e:  # the user's bug, not ours: point at their line
        raise ConfigError(f"{file}: create_pipeline() raised {_where(e, path)}",
                          fix="correct the pipeline file at the line shown") from e
    if not isinstance(pipeline, Pipeline):
        raise ConfigError(f"{file}: create_pipeline() returned {type(pipeline).__name__}, "
                          "expected a Pipeline.", fix="return Pipeline(name, components)")
    if not with_defaults:
        return pipeline, params
    defaults = {name: p.default for name, p in inspect.signature(factory).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return pipeline, {**defaults, **params}


def _import_file(path: Path):
    sys.path.insert(0, str(path.parent.resolve()))
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"gristmill_user_pipeline_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise ConfigError(f"{path}:{e.lineno}: syntax error: {e.msg}.",
                          fix="correct the line shown") from e
    except ImportError as e:
        raise ConfigError(f"{path}: import failed: {e}.",
                          fix="install the missing package or correct the import") from e
    except GristmillError:
        raise
    except Exception as e:  # any other error while importing is the pipeline file's bug
        raise ConfigError(f"{path}: importing the pipeline file raised {_where(e, path)}",
                          fix="correct the pipeline file at the line shown") from e
    return module


def _where(error: Exception, path: Path) -> str:
    """``NameError: name 'x' is not defined (at pipeline.py:12)``: the deepest frame in ``path``."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if Path(f.filename).resolve() == path.resolve()]
    where = f" (at {path.name}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}."


def _parse_params(factory, raw: list[str], file: str) -> dict[str, Any]:
    signature = inspect.signature(factory)
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    params: dict[str, Any] = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--param {item!r}: expected KEY=VALUE.",
                              fix="write --param rows=100")
        if key not in signature.parameters and not accepts_any:
            raise ConfigError(f"--param {key}: {file}'s create_pipeline has no parameter "
                              f"{key!r}.{did_you_mean(key, signature.parameters)}",
                              fix=f"use one of {sorted(signature.parameters)}")
        default = signature.parameters[key].default if key in signature.parameters else None
        try:
            params[key] = _coerce(value, default)
        except ValueError as e:
            raise ConfigError(f"--param {key}={value}: expected {type(default).__name__} like "
                              f"its default {default!r}, got {value!r} ({e}).",
                              fix=f"pass --param {key}=<{type(default).__name__}>") from e
    return params


def _coerce(value: str, default: Any) -> Any:
    if isinstance(default, str):
        return value  # "--param name=123" stays the string the parameter expects
    if isinstance(default, bool):
        return value.lower() in ("1", "true", "yes", "on")
    for kind in (int, float):
        if isinstance(default, kind):
            return kind(value)
    try:
        return json.loads(value)
    except ValueError:
        return value


class Progress(PipelineHooks):
    """One line per component on stderr as it finishes, node ids in one column."""

    def __init__(self, node_ids: list[str] = ()):
        self.width = max([28, *map(len, node_ids)])

    def before_pipeline_run(self, run: RunInfo) -> None:
        err.print(f"[bold]{escape(run.pipeline_name)}[/] run [bold]{escape(run.run_id)}[/]")

    def after_node(self, run: RunInfo, result: NodeResult, context) -> None:
        style = _STATE_STYLE.get(result.state.value, "default")
        err.print(f"  [{style}]{result.state.value:<9}[/] "
                  f"{escape(f'{result.node_id:<{self.width}}')} "
                  f"{result.seconds:7.2f}s")
        if result.error:
            err.print(f"    [red]{escape(redact_text(result.error))}[/]")
        for warning in result.warnings:
            err.print(f"    [yellow]{escape(redact_text(warning))}[/]")


def cmd_run(args) -> int:
    pipeline, params = load_pipeline(args.file, args.param, with_defaults=True)
    if args.root:
        pipeline = pipeline.with_options(root=args.root)
    if args.beam_args:
        pipeline = pipeline.with_options(
            beam_pipeline_args=(*pipeline.beam_pipeline_args, *args.beam_args))
    if args.dry_run:
        return _print_explain(pipeline, args.json, enable_cache=not args.no_cache,
                              from_nodes=args.from_nodes, to_nodes=args.to_nodes,
                              allow_shared_name=args.allow_shared_name)
    resume = _resume_command(args)
    from gristmill.orchestrator.progress import LiveProgress

    live = LiveProgress(err, total=len(pipeline.components))
    try:
        result = _make_runner(args, [Progress([c.id for c in pipeline.components]), live]).run(
            pipeline, from_nodes=args.from_nodes, to_nodes=args.to_nodes,
            enable_cache=False if args.no_cache else None, params=params,
            resume_command=resume, allow_shared_name=args.allow_shared_name)
    finally:
        live.stop()  # also when the run raises: the terminal gets its cursor line back
    _print_summary(result, pipeline)
    if args.json:
        print(json.dumps(redact_values(result.to_dict())))
    return run_exit_code(result)


#: ``gristmill run`` exit status per run status (docs/troubleshooting.md, "Exit codes").
EXIT_COMPLETE, EXIT_FAILED, EXIT_GRISTMILL_BUG, EXIT_HALTED = 0, 1, 3, 4


def run_exit_code(result) -> int:
    """0 COMPLETE, 1 FAILED, 3 a node failed on a Gristmill bug (its traceback logged),
    4 HALTED (validation stopped the run: not a success)."""
    if any(node.internal_error for node in result.components):
        return EXIT_GRISTMILL_BUG
    return {"COMPLETE": EXIT_COMPLETE, "HALTED": EXIT_HALTED}.get(result.status, EXIT_FAILED)


def _make_runner(args, hooks: list):
    """The runner ``gristmill run`` flags ask for."""
    if getattr(args, "runner", "local") == "ray":
        from gristmill.orchestrator.ray_runner import RayDagRunner

        if args.sequential:
            raise ConfigError("--sequential and --runner ray: the Ray runner runs independent "
                              "nodes in parallel.", fix="drop one of the two flags")

        return RayDagRunner(args.ray_address, hooks=hooks)
    if getattr(args, "ray_address", None):
        raise ConfigError(f"--ray-address {args.ray_address}: the local runner does not use a "
                          "Ray cluster.", fix="add --runner ray")
    from gristmill.orchestrator.runner import LocalDagRunner, SequentialRunner

    return (SequentialRunner if args.sequential else LocalDagRunner)(hooks=hooks)


def _resume_command(args) -> str:
    ray = getattr(args, "runner", "local") == "ray"
    parts = ["gristmill", "run", args.file, *[f"--param={p}" for p in args.param],
             *[f"--beam-arg={b}" for b in args.beam_args],
             *([f"--root={args.root}"] if args.root else []),
             *(["--runner=ray"] if ray else []),
             *([f"--ray-address={args.ray_address}"] if ray and args.ray_address else []),
             *(["--allow-shared-name"] if args.allow_shared_name else [])]
    return redact_text(shlex.join(parts))


def _print_summary(result, pipeline: Pipeline) -> None:
    from gristmill.orchestrator.run_summary import mlflow_line, summary_markup

    mlflow = None
    if pipeline.tracking_uri != "":
        from gristmill.orchestrator.mlflow_mirror import mirror_dir, mirror_mode

        mlflow = mlflow_line(mirror_dir(), result.run_id, mirror_mode())
    err.print(summary_markup(result, mlflow))  # one write: no log line inside it


def cmd_explain(args) -> int:
    pipeline, _ = load_pipeline(args.file, args.param)
    return _print_explain(pipeline, args.json, enable_cache=pipeline.enable_cache)


def _print_explain(pipeline: Pipeline, as_json: bool, enable_cache: bool,
                   from_nodes: list[str] = (), to_nodes: list[str] = (),
                   allow_shared_name: bool = False) -> int:
    from gristmill.metadata.store import open_store
    from gristmill.orchestrator.compiler import compile_pipeline
    from gristmill.orchestrator.explain import explain
    from gristmill.orchestrator.runner import known_identities, select_nodes, shared_name_error

    compiled = compile_pipeline(pipeline)
    selected = select_nodes(compiled, list(from_nodes), list(to_nodes)) \
        if from_nodes or to_nodes else None
    with open_store(pipeline.metadata_url) as store:
        known = known_identities(store, pipeline.name)
        if known and pipeline.identity and pipeline.identity not in known and \
                not allow_shared_name:
            raise shared_name_error(pipeline, known)  # what the run would say
        verdicts = explain(compiled, store, enable_cache, selected)
    if as_json:
        print(json.dumps({"pipeline": pipeline.name,
                          "components": [v.to_dict() for v in verdicts]}))
        return 0
    for v in verdicts:
        style = {"hit": "cyan", "miss": "yellow"}.get(v.verdict, "dim")
        out.print(f"[{style}]{v.verdict.upper():<7}[/] {escape(v.node_id)}")
        for reason in v.reasons:
            out.print(f"         {escape(reason)}")
    return 0


def cmd_runs(args) -> int:
    from gristmill.orchestrator import inspect_store

    if args.graph and args.action != "show":
        raise ConfigError("runs --graph: the graph is of one run.",
                          fix="gristmill runs show ID --graph")
    with _store(args) as store:
        if args.action == "show":
            if not args.run_id:
                raise ConfigError("runs show: expected a run id.", fix="gristmill runs show ID")
            data = inspect_store.run_details(store, args.run_id)
            if args.graph and not args.json:
                print(inspect_store.run_graph(data))
                return 0
            code = _emit(args, data, inspect_store.run_table(data))
            if not args.json:
                from gristmill.orchestrator.mlflow_mirror import mirror_dir, mirror_mode
                from gristmill.orchestrator.run_summary import mlflow_line

                line = mlflow_line(mirror_dir(), data["run_id"], mirror_mode())
                out.print(f"mlflow: {escape(line)}")
            return code
        data = inspect_store.list_runs(store, args.pipeline)
        return _emit(args, data, inspect_store.runs_table(data))


def cmd_artifacts(args) -> int:
    from gristmill.orchestrator import inspect_store

    with _store(args) as store:
        data = inspect_store.list_artifacts(store, args.type_name, args.producer)
        return _emit(args, data, inspect_store.artifacts_table(data))


def cmd_lineage(args) -> int:
    from gristmill.orchestrator import inspect_store
    from gristmill.orchestrator.lineage_view import DIRECTIONS, render_tree

    with _store(args) as store:
        data = inspect_store.lineage(store, args.artifact_id, DIRECTIONS[args.direction],
                                     args.hops)
    if args.json:
        return _emit(args, data, None)
    print(render_tree(data))
    return 0


def cmd_bless(args) -> int:
    from gristmill.orchestrator.cli import check_home
    from gristmill.orchestrator.manual_blessing import record_manual_blessing

    check_home(writable=True)  # the record's files go under GRISTMILL_HOME

    with _store(args) as store:
        record = record_manual_blessing(store, args.artifact_id, args.reason, args.revoke)
    if args.json:
        print(json.dumps(record, default=str))
    else:
        out.print(f"model {record['model_id']}: {escape(record['blessing_message'])} "
                  f"(execution {record['execution_id']}, blessing artifact "
                  f"{record['artifact_id']})")
    return 0


def cmd_ui(args) -> int:
    from gristmill.orchestrator.mlflow_mirror import mirror_dir
    from gristmill.orchestrator.mlflow_replay import prepare_ui, ui_command
    from gristmill.orchestrator.runner import default_tracking_uri

    tracking_uri = args.tracking_uri or default_tracking_uri()
    quiet = not args.verbose and "MLFLOW_LOGGING_LEVEL" not in os.environ
    if quiet:  # MLflow's INFO lines while it creates/upgrades its tables
        os.environ["MLFLOW_LOGGING_LEVEL"] = "WARNING"
    replayed = prepare_ui(mirror_dir(), tracking_uri)  # repairs the store; never raises
    if quiet:
        del os.environ["MLFLOW_LOGGING_LEVEL"]  # the server's own log keeps its INFO lines
    if replayed:
        err.print(f"mirrored {replayed} pending run(s) into MLflow")
    command = ui_command(tracking_uri, args.host, args.port)
    # MLflow 3's server also starts a job runner (huey consumers, for GenAI scorers and trace
    # roll-ups; Gristmill uses none): ~1 process and 150+ MB more. Set it to true to keep it.
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    from gristmill.metadata.settings import gristmill_home
    from gristmill.orchestrator import ui_server

    log_path = None if args.verbose else gristmill_home() / "logs" / "ui.log"
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        err.print(f"starting the MLflow UI (Ctrl-C to stop; its output: {log_path})")
    return ui_server.serve(command, f"http://{args.host}:{args.port}", log_path,
                           say=lambda line: print(line, flush=True))


def cmd_db(args) -> int:
    from gristmill.metadata.settings import redact_url
    from gristmill.metadata.sql import migrate

    if args.action == "upgrade":
        migrate.upgrade(args.url)
        err.print(f"metadata database {redact_url(args.url)} is at revision "
                  f"{migrate.current_revision(args.url)}")
    else:
        print(migrate.current_revision(args.url))
    return 0


def _store(args):
    from gristmill.metadata.store import open_store

    return open_store(args.db_url or os.environ.get("GRISTMILL_METADATA_URL"))


def _emit(args, data: Any, table: Table) -> int:
    if args.json:
        print(json.dumps(redact_values(data), default=str))
    else:
        out.print(table)
    return 0

