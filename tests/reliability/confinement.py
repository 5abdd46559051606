"""Stale-recovery confinement: store rows never make Gristmill delete or read outside its root.

Each trial (hypothesis-generated) builds a pipeline root and, beside it, a "victim" folder
shaped like an artifact root. A RUNNING execution of the pipeline, its process dead, records
an output URI drawn from: absolute paths into the victim, ``..`` escapes, symlinks inside
the root that lead to the victim (as the node folder, or as ``.staging``/``.tmp``), URIs
that break the ``<node>/<key>/<token>`` layout, and, as the control, a proper URI inside the
root. After ``publisher.recover_stale`` every victim file must still be there, the control's
leftovers must be gone, and a refused row must be reported (a warning naming it). The same
URIs as cached or consumed artifacts must be refused by ``verify_intact`` before any read.
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import HarnessResult, fresh_dir

KINDS = ("outside", "dotdot", "symlink_node", "symlink_staging", "bad_layout", "inside")
HEX = "0123456789abcdef"


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def plant(base: Path, kind: str, node: str, key: str, token: str) -> tuple[Path, Path, str]:
    """Root, victim and the output URI a row of this ``kind`` records."""
    root, victim = fresh_dir(base / "root"), fresh_dir(base / "victim")
    for path in (victim / node / key / token, victim / ".staging" / token,
                 victim / ".tmp" / token):
        path.mkdir(parents=True)
        (path / "keep.txt").write_text("victim")
    if kind == "outside":
        uri = victim / node / key / token
    elif kind == "dotdot":
        uri = Path(f"{root}/{node}/../../victim/{node}/{key}/{token}")
    elif kind == "symlink_node":
        (root / node).symlink_to(victim / node)
        uri = root / node / key / token
    elif kind == "symlink_staging":
        (root / ".staging").symlink_to(victim / ".staging")
        (root / ".tmp").symlink_to(victim / ".tmp")
        uri = root / node / key / token
    elif kind == "bad_layout":
        uri = root / token
    else:  # inside: the control, whose leftovers must go
        for path in (root / node / key / token, root / ".staging" / token, root / ".tmp" / token):
            path.mkdir(parents=True)
        uri = root / node / key / token
    return root, victim, str(uri)


def stale_trial(base: Path, kind: str, node: str, key: str, token: str) -> list[str]:
    """Problems after recovering one stale row of ``kind``; [] when confined."""
    from gristmill.metadata.standard_artifacts import Examples
    from gristmill.metadata.store import open_store
    from gristmill.orchestrator import publisher

    root, victim, uri = plant(base, kind, node, key, token)
    db = base / "metadata.db"
    with open_store(str(db)) as store:
        execution = store.register_execution(
            component_id=node, component_type="x", parameters={}, cache_key=None,
            cache_ingredients={}, context_ids=[], inputs={}, outputs={key: [Examples(uri)]},
            pipeline_name="p", run_id="r")
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE executions SET pid = ? WHERE id = ?",
                           (_dead_pid(), execution.id))
    records = _Records()
    logger = logging.getLogger("gristmill.orchestrator.publisher")
    logger.addHandler(records)
    try:
        with open_store(str(db)) as store:
            publisher.recover_stale(store, str(root), "p")
    finally:
        logger.removeHandler(records)
    problems = []
    kept = len(list(victim.rglob("keep.txt")))
    if kept != 3:
        problems.append(f"{kind} {uri}: {3 - kept} victim file(s) deleted")
    if kind == "inside":
        left = [p for p in (root / node / key / token, root / ".staging" / token,
                            root / ".tmp" / token) if p.exists()]
        problems += [f"inside {uri}: leftover {p} not deleted" for p in left]
    elif kind != "symlink_staging" and not any(f"execution {execution.id}" in m
                                               for m in records.messages):
        problems.append(f"{kind} {uri}: refused without a warning naming the execution")
    return problems


def read_trial(base: Path, kind: str, node: str, key: str, token: str) -> list[str]:
    """A store artifact at the planted URI: outside ones are refused before any read."""
    from gristmill.metadata.confinement import ConfinementError
    from gristmill.metadata.standard_artifacts import Examples
    from gristmill.orchestrator.launcher import verify_intact

    root, _victim, uri = plant(base, kind, node, key, token)
    artifact = Examples(uri, id=1, fingerprint="sha256:never-read")
    outside = kind in ("outside", "dotdot", "symlink_node")
    try:
        verify_intact(artifact, "Consumer(examples=...)", (str(root),))
        refused = False
    except ConfinementError:
        refused = True
    except Exception:  # IntegrityError etc.: it was read, or at least looked at
        refused = False
    if outside and not refused:
        return [f"read of {kind} {uri} was not refused"]
    if kind == "inside" and refused:
        return [f"read of the control {uri} inside the root was refused"]
    return []


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run(examples: int = 60) -> dict:
    """``examples`` hypothesis-generated rows, each through stale recovery and a read."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    result = HarnessResult("confinement")
    names = st.text(st.sampled_from("abcXYZ_09-"), min_size=1, max_size=12)
    with tempfile.TemporaryDirectory(prefix="gm-confine-") as tmp:
        counter = iter(range(10**9))

        @settings(max_examples=examples, database=None, derandomize=True, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(kind=st.sampled_from(KINDS), node=names, key=names,
               token=st.text(st.sampled_from(HEX), min_size=12, max_size=12))
        def trial(kind, node, key, token):
            base = fresh_dir(Path(tmp) / f"t{next(counter)}")
            for check in (stale_trial, read_trial):
                try:
                    problems = check(fresh_dir(base / check.__name__), kind, node, key, token)
                except Exception as e:
                    problems = [f"{check.__name__} {kind}: {type(e).__name__}: {e}"]
                result.check(not problems, "; ".join(problems), kind=kind)

        trial()
    return result.to_dict()
