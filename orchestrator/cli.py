"""The ``gristmill`` command line. Heavy libraries are imported inside commands only."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import traceback

from gristmill.metadata.settings import redact_text


def build_parser() -> argparse.ArgumentParser:
    """All commands and their flags."""
    parser = argparse.ArgumentParser(prog="gristmill", description=(
        "Gristmill: typed ML pipelines with lineage, caching and an MLflow UI."),
        formatter_class=HelpFormatter, epilog="example:\n  gristmill run pipeline.py "
        "--param rows=1000\n  gristmill COMMAND --help   (each command's flags and an example)")
    parser.add_argument("--version", action="version", version=f"gristmill {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a pipeline file's create_pipeline(**params)")
    _pipeline_args(run)
    run.add_argument("--no-cache", action="store_true", help="re-run every component")
    run.add_argument("--dry-run", action="store_true", help="say what would run; run nothing")
    run.add_argument("--from", dest="from_nodes", action="append", default=[], metavar="NODE",
                     help="run only NODE and its descendants (repeatable)")
    run.add_argument("--to", dest="to_nodes", action="append", default=[], metavar="NODE",
                     help="run only NODE and its ancestors (repeatable)")
    run.add_argument("--beam-arg", dest="beam_args", action="append", default=[],
                     metavar="ARG", help="extra Beam pipeline arg, e.g. --beam-arg=--runner=...")
    run.add_argument("--sequential", action="store_true", help="one component at a time")
    run.add_argument("--root", metavar="URL", help="artifact root instead of the pipeline's: "
                     "a path or an object-store URL (s3://bucket/prefix, gs://, abfs://)")
    run.add_argument("--runner", choices=["local", "ray"], default="local",
                     help="ray: each node's executor runs as a task on a Ray cluster")
    run.add_argument("--ray-address", metavar="ADDR",
                     help="with --runner ray: the cluster, e.g. 127.0.0.1:6379 (default: "
                          "start a local one)")
    run.add_argument("--allow-shared-name", action="store_true",
                     help="run although another pipeline file used this pipeline name in the "
                          "store (they then share history)")

    explain = sub.add_parser("explain", help="say per component: cache hit or miss, and why")
    _pipeline_args(explain)

    runs = sub.add_parser("runs", help="list pipeline runs, or show one")
    runs.add_argument("action", nargs="?", choices=["show"], help="show one run")
    runs.add_argument("run_id", nargs="?", help="the run id to show")
    runs.add_argument("--pipeline", help="only runs of this pipeline")
    runs.add_argument("--graph", action="store_true",
                      help="with show: draw the run's DAG (layers, states, artifact edges)")
    _store_args(runs)

    artifacts = sub.add_parser("artifacts", help="list artifacts")
    artifacts.add_argument("--type", dest="type_name",
                           help="only this artifact type (any case: model, Model)")
    artifacts.add_argument("--producer", help="only artifacts made by this node id")
    _store_args(artifacts)

    lineage = sub.add_parser("lineage", help="what an artifact came from and what it fed")
    lineage.add_argument("artifact_id", type=int, help="the artifact id (see `artifacts`)")
    lineage.add_argument("--direction", choices=["up", "down", "both", "upstream",
                                                 "downstream"], default="both",
                         help="up: what it was made from; down: what was made from it")
    lineage.add_argument("--hops", type=int, default=3, help="executions to follow")
    _store_args(lineage)

    bless = sub.add_parser("bless", help="manually bless a model (or --revoke), on the record")
    bless.add_argument("artifact_id", type=int, help="the Model artifact's id")
    bless.add_argument("--reason", required=True, help="why; recorded with who and when")
    bless.add_argument("--revoke", action="store_true", help="record that it must NOT be pushed")
    _store_args(bless)

    ui = sub.add_parser("ui", help="start the MLflow UI over Gristmill's tracking store")
    ui.add_argument("--port", type=int, default=5000, help="port to serve on")
    ui.add_argument("--host", default="127.0.0.1", help="bind address (loopback: this host only)")
    ui.add_argument("--tracking-uri", help="default: sqlite under GRISTMILL_HOME")
    ui.add_argument("--verbose", action="store_true",
                    help="show MLflow's own output (default: GRISTMILL_HOME/logs/ui.log)")

    db = sub.add_parser("db", help="metadata database maintenance")
    db.add_argument("action", choices=["upgrade", "current"])
    db.add_argument("--url", help="metadata database URL (default: GRISTMILL_HOME)")

    from gristmill.orchestrator.compile.commands import add_commands  # run-node, compile

    add_commands(sub)
    _add_examples(sub)
    return parser


#: One example per command, shown under its ``--help``.
EXAMPLES = {
    "run": "gristmill run pipelines/penguin/pipeline.py --param epochs=5 --from Trainer",
    "explain": "gristmill explain pipelines/penguin/pipeline.py",
    "runs": "gristmill runs --pipeline penguin\n  gristmill runs show 20261203-0955 --graph   "
            "(a unique prefix of the run id is enough)",
    "artifacts": "gristmill artifacts --type model --producer Trainer   (--type ignores case)",
    "lineage": "gristmill lineage 56 --direction up --hops 8",
    "ui": "gristmill ui --port 5000",
    "db": "gristmill db upgrade --url postgresql+psycopg://user@host/gristmill",
    "run-node": "gristmill run-node pipeline.py Trainer --run-id 20261203-095500-ab12cd",
    "compile": "gristmill compile pipeline.py --target airflow --out dags/",
    "bless": "gristmill bless 56 --reason 'reviewed: the drop is one mislabelled slice'",
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                    argparse.RawDescriptionHelpFormatter):
    """Help with each flag's default (when it has a real one) and the example kept as typed."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False, [], argparse.SUPPRESS) or not action.help:
            return action.help or ""
        return super()._get_help_string(action)


def _add_examples(sub) -> None:
    """Give every command (also those added by other modules) the formatter and its example."""
    for name, command in sub.choices.items():
        command.formatter_class = HelpFormatter
        if name in EXAMPLES and "example:" not in (command.epilog or ""):
            example = f"example:\n  {EXAMPLES[name]}"
            command.epilog = f"{command.epilog}\n\n{example}" if command.epilog else example


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gristmill")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown (not installed)"


def _pipeline_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a Python file defining create_pipeline(**params)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="argument for create_pipeline (repeatable)")
    parser.add_argument("--json", action="store_true", help="last stdout line is one JSON object")


def _store_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
    # The default is read when the command runs: help must never print a URL's password.
    parser.add_argument("--db", dest="db_url", help="metadata database URL (default: "
                        "$GRISTMILL_METADATA_URL, else GRISTMILL_HOME/metadata.db)")


class _RedactingFilter(logging.Filter):
    """Log records as the CLI prints them: URL passwords hidden, no tracebacks.

    Libraries log exceptions with their tracebacks (Beam logs every failing DoFn); the node's
    error already says what went wrong and the fix, so the console gets one line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = redact_text(record.getMessage()).strip()
        record.msg, record.args = (message.splitlines() or [""])[0], None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def _redact_logs() -> None:
    """Log warnings through one handler that redacts database passwords."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    for handler in root.handlers:
        if not any(isinstance(f, _RedactingFilter) for f in handler.filters):
            handler.addFilter(_RedactingFilter())
    # Errors inside library callbacks (pyarrow row handlers, __del__) would print a raw
    # traceback through sys.unraisablehook; log them as one redacted line instead.
    sys.unraisablehook = _log_unraisable


def _log_unraisable(unraisable) -> None:
    logging.getLogger("gristmill").warning(
        "ignored %s in %s: %s", type(unraisable.exc_value).__name__,
        getattr(unraisable.object, "__qualname__", unraisable.object), unraisable.exc_value)


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn every error into a message with its fix."""
    args = build_parser().parse_args(argv)
    _redact_logs()
    from gristmill.orchestrator import cli_commands

    handler = getattr(args, "handler", None) or getattr(cli_commands, f"cmd_{args.command}")
    try:
        check_home(writable=args.command in ("run", "run-node"))
        return handler(args)
    except KeyboardInterrupt as interrupt:
        return _report_interrupt(interrupt)
    except BrokenPipeError:  # the reader left (`gristmill lineage 12 | head`): not a bug
        return _reader_left()
    except Exception as e:  # the error boundary: never a raw traceback
        return _report_error(e)


def _reader_left() -> int:
    """Stop writing to a closed stdout quietly, as Unix tools do (exit 141 = 128 + SIGPIPE);
    stdout goes to /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141


def _report_interrupt(interrupt: KeyboardInterrupt) -> int:
    """Say what Ctrl-C stopped and how to resume; then end the process at once.

    Executors run on worker threads that cannot be stopped from outside; their executions
    are already recorded CANCELED, so the process exits without waiting for them (the
    interpreter would otherwise join those threads at exit).
    """
    try:
        canceled = getattr(interrupt, "canceled", None)
        lines = ["interrupted"]
        if getattr(interrupt, "run_id", None):
            stopped = f"; stopped and recorded CANCELED: {', '.join(canceled)}" if canceled \
                else ""
            lines = [f"interrupted: run {interrupt.run_id} is CANCELED{stopped}"]
        if getattr(interrupt, "resume_command", None):
            lines.append(f"  resume:    {interrupt.resume_command}   (completed components "
                         "come from cache)")
        print("\n".join(lines), file=sys.stderr)
    except Exception:  # noqa: BLE001 - the last error boundary must not fail
        print("interrupted", file=sys.stderr)
    if threading.active_count() > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    return 130


def check_home(writable: bool) -> None:
    """Refuse a ``GRISTMILL_HOME`` that is not a usable directory, with the fix.

    Args:
        writable: The command writes there (runs, logs, the MLflow journal).
    """
    from gristmill.metadata.errors import ConfigError
    from gristmill.metadata.settings import HOME_ENV, gristmill_home

    home = gristmill_home()
    fix = f"set {HOME_ENV} to a writable directory (it is created if missing), or unset it"
    if home.exists() and not home.is_dir():
        raise ConfigError(f"{HOME_ENV}={home} is a file, not a directory: Gristmill keeps its "
                          "metadata, logs and MLflow journals in that directory.", fix=fix)
    if writable and home.is_dir() and not os.access(home, os.W_OK | os.X_OK):
        raise ConfigError(f"{HOME_ENV}={home} is not writable by this user: a run records "
                          "its metadata, logs and MLflow journal there.", fix=fix)


def _report_error(error: Exception) -> int:
    """Print one error line (2: a Gristmill error; 3: a bug, its traceback logged).

    This is the last error boundary, so it must not fail itself: a home that is a file,
    read-only or on a full disk sends the log to the temp directory, or nowhere.
    """
    try:
        from gristmill.metadata.errors import GristmillError

        if isinstance(error, GristmillError):
            print(f"error: {redact_text(str(error))}", file=sys.stderr)
            return 2
        from gristmill.orchestrator.failures import write_bug_log

        log_file = write_bug_log("".join(traceback.format_exception(error)), "cli")
        where = (f"The full traceback is in {log_file}" if log_file else
                 "The traceback could not be saved (no writable log directory)")
        print(f"error: unexpected {type(error).__name__}: {redact_text(str(error))}\n"
              f"{where}; please include it in a bug report.", file=sys.stderr)
    except Exception:  # noqa: BLE001 - the last resort: one line, whatever happened
        print(f"error: unexpected {type(error).__name__} (and reporting it failed)",
              file=sys.stderr)
    return 3


def console_entry() -> None:
    """The installed ``gristmill`` command: :func:`main`, then a fast exit.

    Tearing down torch, Beam and MLflow at interpreter exit costs about 2 s here, longer
    than a whole cached pipeline run. Every store write is committed and every file closed
    by the time ``main`` returns, and the MLflow replay runs in its own process, so after
    flushing the standard streams the process ends without that teardown.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    console_entry()
