"""Replay a run journal into MLflow (see :mod:`gristmill.orchestrator.mlflow_mirror`).

Run as ``python -m gristmill.orchestrator.mlflow_replay JOURNAL.ready``. Replays are
serialised by a file lock so concurrent pipeline runs never fight over MLflow's database.
A replayed journal is renamed ``.done``; a failed one stays ``.ready`` with a ``.log``.
A journal's first attempt leaves an ``.attempted`` marker until it succeeds, so only a retry
looks for (and deletes) the runs an earlier, failed attempt left. The detached process runs
niced (``os.nice(10)``) so it never competes with the user's next command.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from gristmill.metadata.confinement import is_within
from gristmill.metadata.db_url import HIDDEN, redact_text, redact_url, sqlite_file
from gristmill.orchestrator.mlflow.replayer import Replayer as _Replayer
from gristmill.orchestrator.run_summary import write_mlflow_location

log = logging.getLogger(__name__)
__all__ = ["JournalSkipped", "_Replayer", "prepare_ui", "read_events", "replay_file",
           "replay_events", "replay_pending", "ui_command"]


TRACKING_URI_ENV = "GRISTMILL_REPLAY_TRACKING_URI"
ATTEMPTED_SUFFIX = ".attempted"
NICENESS = 10


class JournalSkipped(Exception):
    """A journal that cannot be replayed as it is; the message says why and what to do."""


def replay_pending(directory: Path, tracking_uri: str | None = None) -> int:
    """Replay every ``.ready`` journal in ``directory``; returns how many were replayed.

    One journal that fails (truncated, unreadable, recorded for a tracking URI whose
    password is not on disk, MLflow refusing it) is skipped with a warning naming it; the
    others are still replayed, so ``gristmill ui`` always starts.

    Args:
        tracking_uri: The full tracking URI to use for journals recorded for it (journals
            keep only its redacted form).
    """
    count = 0
    for path in sorted(directory.glob("*.ready")):
        try:
            replay_file(str(path), tracking_uri)
            count += 1
        except Exception as e:  # one bad journal must not block the others or the UI
            log.warning("MLflow mirror: journal %s was not replayed: %s", path,
                        redact_text(str(e)))
    return count


def prepare_ui(directory: Path, tracking_uri: str) -> int:
    """Before ``gristmill ui``: repair a half-made SQLite tracking store, then replay pending
    journals. Never raises (a failure is a warning naming it); returns how many replayed."""
    from gristmill.components.framework.tracking_store import ensure_tracking_store, sqlite_path

    if sqlite_path(tracking_uri) is not None:
        try:
            ensure_tracking_store(tracking_uri)
        except Exception as e:
            log.warning("MLflow tracking store %s cannot be opened: %s", redact_url(tracking_uri),
                        redact_text(str(e).splitlines()[0] if str(e) else type(e).__name__))
    return replay_pending(directory, tracking_uri) if directory.is_dir() else 0


def replay_file(path: str, tracking_uri: str | None = None) -> None:
    """Replay one journal into MLflow under an exclusive lock.

    Raises:
        JournalSkipped: The journal has no start event (it is renamed ``.bad``) or names a
            tracking URI with a hidden password that ``tracking_uri`` does not supply.
    """
    journal = Path(path)
    with open(journal.parent / ".replay.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not journal.exists():
            return  # another process replayed it while we waited
        events = read_events(journal)
        if not events or events[0].get("op") != "start_pipeline":
            journal.rename(journal.with_suffix(".bad"))
            raise JournalSkipped(f"it has no start_pipeline event (truncated or not a "
                                 f"journal); renamed to {journal.with_suffix('.bad').name}")
        events[0]["tracking_uri"] = _full_tracking_uri(events[0].get("tracking_uri") or "",
                                                       tracking_uri)
        attempted = journal.with_suffix(ATTEMPTED_SUFFIX)
        retry = attempted.exists()
        attempted.touch()  # before MLflow is written: a failure or kill leaves it
        replayer = replay_events(events, retry)
        write_mlflow_location(journal.parent, events[0]["run_id"], replayer.experiment_id,
                              replayer.parent_id)
        journal.rename(journal.with_suffix(".done"))
        attempted.unlink()


def replay_events(events: list[dict[str, Any]], retry: bool) -> _Replayer:
    """Replay ``events`` directly into a local SQLite store at the schema the direct writer
    knows (:mod:`~gristmill.orchestrator.mlflow.sqlite_writer`: no MLflow import, one
    transaction), else, or when that writer refuses anything, through MLflow's client.
    The log says which writer wrote and why. Returns the replayer that wrote."""
    from gristmill.metadata.mlflow_direct import write_directly
    from gristmill.orchestrator.mlflow.sqlite_writer import SqliteWriter, direct_refusal

    uri = events[0]["tracking_uri"]
    refusal = direct_refusal(uri, retry)
    if refusal is None:
        def replay_into(writer: SqliteWriter) -> _Replayer:
            replayer = _Replayer(copy.deepcopy(events), retry, writer=writer)
            replayer.replay()
            return replayer

        written, replayer = write_directly(SqliteWriter, sqlite_file(uri), replay_into)
        if written:
            log.info("MLflow replay: %s written directly into %s (sqlite3)",
                     events[0]["run_id"], redact_url(uri))
            return replayer
        refusal = f"the direct writer refused: {replayer}"
    log.info("MLflow replay: %s written with MLflow's client: %s", events[0]["run_id"],
             redact_text(refusal))
    replayer = _Replayer(events, retry)
    replayer.replay()
    return replayer


def read_events(journal: Path) -> list[dict[str, Any]]:
    """The journal's events; undecodable lines (a torn last write) are skipped and named."""
    events, bad = [], []
    for number, line in enumerate(journal.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            bad.append(number)
            continue
        if isinstance(event, dict) and isinstance(event.get("op"), str) and \
                _files_confined(event, journal):
            events.append(event)
        else:
            bad.append(number)
    if bad:
        log.warning("MLflow mirror: journal %s: skipped %d unreadable line(s) (%s)", journal,
                    len(bad), ", ".join(map(str, bad[:10])))
    return events


def _files_confined(event: dict[str, Any], journal: Path) -> bool:
    """A file event may only name a copy kept beside its journal (``<stem>.files/``)."""
    if event["op"] not in ("artifact", "model"):
        return True
    return is_within(str(event.get("path", "")), journal.with_suffix(".files"))


def _full_tracking_uri(recorded: str, given: str | None) -> str:
    """The tracking URI to replay into. Journals hold the URI redacted; the full one comes
    from the caller (``gristmill ui``, the run that wrote the journal) when it matches."""
    for candidate in (given, os.environ.get(TRACKING_URI_ENV)):
        if candidate and redact_url(candidate) == recorded:
            return candidate
    if redact_url(recorded) == recorded and HIDDEN not in recorded:
        return recorded
    raise JournalSkipped(f"it was recorded for the tracking URI {recorded}, whose password is "
                         "not kept on disk; replay it with `gristmill ui --tracking-uri URL` "
                         "giving the full URL")


def ui_command(tracking_uri: str, host: str, port: int) -> list[str]:
    """The ``mlflow server`` command line that serves Gristmill's tracking store, with
    Gristmill's app (:mod:`gristmill.orchestrator.mlflow.ui_app`: the UI opens in
    model-training view); without that entry point installed, MLflow's own app and a
    warning saying how to install it."""
    from gristmill.orchestrator.mlflow.ui_app import APP_NAME, app_registered

    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri,
               "--host", host, "--port", str(port), "--workers", "1"]
    if app_registered():
        command += ["--app-name", APP_NAME]
    else:
        log.warning("gristmill ui: the MLflow app entry point '%s' is not installed, so a fresh "
                    "browser opens experiments in MLflow's GenAI view; reinstall Gristmill "
                    "(pip install -e .) to register it", APP_NAME)
    db = sqlite_file(tracking_uri)
    if db is not None:
        command += ["--default-artifact-root", str(db.parent / "mlartifacts")]
    return command


def main(argv: list[str] | None = None) -> int:
    """Entry point of the detached replay process (full tracking URI in the environment)."""
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(OSError):
        os.nice(NICENESS)  # after the run: never compete with the user's next command
    for path in argv if argv is not None else sys.argv[1:]:
        try:
            replay_file(path)
        except Exception as e:  # the pipeline already succeeded; leave the journal for retry
            log.warning("MLflow mirror replay of %s failed: %s", path, redact_text(str(e)))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
