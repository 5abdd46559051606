"""Say why a node failed, and whose bug it is: the user's code or Gristmill's.

An exception that is not a :class:`GristmillError` is classified by where it was raised:
the innermost traceback frame that is not library code (the standard library,
``site-packages``, compiled extensions such as pyarrow's ``.pxi`` files). When that frame is
in Gristmill's own packages, the exception is a Gristmill bug (exit 3 with a log, as
docs/troubleshooting.md promises); otherwise it is the user's code, and the user's frames
are shown first, before the library frames below them.
"""

from __future__ import annotations

import os
import sysconfig
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

from gristmill.metadata.errors import ExecutorError, GristmillError
from gristmill.metadata.settings import gristmill_home, redact_text

USER, GRISTMILL, LIBRARY = "user", "gristmill", "library"
_LIBRARY_FRAMES_SHOWN = 2


def _gristmill_dirs() -> tuple[str, ...]:
    import gristmill.components
    import gristmill.engine
    import gristmill.metadata
    import gristmill.orchestrator

    return tuple(os.path.join(os.path.realpath(p), "") for m in (
        gristmill.components, gristmill.engine, gristmill.metadata, gristmill.orchestrator)
        for p in m.__path__)


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple(os.path.join(os.path.realpath(paths[k]), "") for k in
                 ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(k))


def frame_owner(filename: str) -> str:
    """``user``, ``gristmill`` or ``library`` for one traceback frame's file."""
    if not os.path.isabs(filename) or filename.startswith("<"):
        return LIBRARY  # "<frozen ...>", Cython sources such as "pyarrow/table.pxi"
    path = os.path.realpath(filename)
    if path.startswith(_gristmill_dirs()):
        return GRISTMILL
    if path.startswith(_library_dirs()) or f"{os.sep}site-packages{os.sep}" in path:
        return LIBRARY
    return USER


def raised_by(error: BaseException) -> str:
    """Whose code raised ``error``: the owner of its innermost non-library frame
    (``library`` only when every frame is library code)."""
    owners = [frame_owner(f.filename) for f in traceback.extract_tb(error.__traceback__)]
    return next((o for o in reversed(owners) if o != LIBRARY), LIBRARY)


def user_traceback(error: BaseException) -> str:
    """The traceback the user needs: their own frames first (most recent call last), then
    the innermost library frames it went through, then the exception line."""
    frames = traceback.extract_tb(error.__traceback__)
    owners = [frame_owner(f.filename) for f in frames]
    mine = [f for f, o in zip(frames, owners, strict=True) if o == USER]
    last_user = max((i for i, o in enumerate(owners) if o == USER), default=-1)
    below = [f for f, o in zip(frames[last_user + 1:], owners[last_user + 1:], strict=True)
             if o == LIBRARY]
    parts = []
    if mine:
        parts += ["Your code (most recent call last):\n", *traceback.format_list(mine)]
    if below:
        skipped = len(below) - _LIBRARY_FRAMES_SHOWN
        parts += [f"then inside libraries{f' ({skipped} frames left out)' if skipped > 0 else ''}"
                  ":\n", *traceback.format_list(below[-_LIBRARY_FRAMES_SHOWN:])]
    parts += traceback.format_exception_only(type(error), error)
    return "".join(parts).rstrip()


@dataclass
class Failure:
    """A node's error message, and where a Gristmill bug's full traceback was logged."""

    message: str
    internal: bool = False
    bug_log: str | None = None


def describe_failure(node_id: str, component_type: str, error: BaseException,
                     run_id: str = "") -> Failure:
    """The message for a node that raised ``error``, classified as user or Gristmill bug."""
    if isinstance(error, GristmillError):
        cause = error.__cause__
        if cause is not None and raised_by(cause) == USER:
            return Failure(f"{error}\n{user_traceback(cause)}")
        return Failure(str(error))
    if type(error).__module__ == "gristmill.engine.errors":  # ours, from the engine layer
        return Failure(f"{node_id} ({component_type}): {error}")
    if raised_by(error) == GRISTMILL:
        return internal_failure(node_id, component_type, error, run_id)
    wrapped = ExecutorError(f"{node_id} ({component_type}) raised {type(error).__name__}: "
                            f"{error}", component_id=node_id,
                            fix="correct your code at the first line shown below")
    return Failure(f"{wrapped}\n{user_traceback(error)}")


def internal_failure(node_id: str, component_type: str, error: BaseException,
                     run_id: str = "") -> Failure:
    """A Gristmill bug: one line for the terminal, the whole traceback in a log file."""
    log = write_bug_log("".join(traceback.format_exception(error)),
                        f"{run_id or 'run'}-{node_id}")
    where = f"the full traceback is in {log}" if log else "the traceback could not be saved"
    return Failure(f"{node_id} ({component_type}): internal error {type(error).__name__}: "
                   f"{error}. This is a Gristmill bug, not an error in your code: {where}; "
                   "please include it in a bug report.", True, str(log) if log else None)


def write_bug_log(text: str, stem: str) -> Path | None:
    """Save a redacted traceback under ``$GRISTMILL_HOME/logs`` (else the temp directory);
    ``None`` when neither can be written. Never raises: it runs inside error handlers."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:100]
    for folder in (lambda: gristmill_home() / "logs",
                   lambda: Path(tempfile.gettempdir()) / "gristmill-logs"):
        try:
            directory = folder()
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"{safe}-{os.getpid()}.log"
            path.write_text(redact_text(text))
            return path
        except Exception:  # noqa: BLE001 - a read-only or full home: try the next place
            continue
    return None
