"""Same-name pipelines: two pipelines under one name in one store never share history silently.

One trial (Hypothesis-generated, derandomized) writes a first pipeline file with a generated
name, runs it, then runs a second pipeline under the same name that is the same pipeline
(the same file again, the same declared ``pipeline_id``) or a different one (another file, a
moved file, another id, an id where the first had none), with or without
``allow_shared_name``. It passes when

- a different pipeline without ``allow_shared_name`` is refused by a Gristmill error naming
  the pipeline, both identities and a ``Fix:`` mentioning ``--allow-shared-name``, and the
  store is exactly as before (no run, execution or artifact added);
- the same pipeline, or a different one with ``allow_shared_name``, completes; the pipelines
  that ran under the name then all run again without the flag (nothing is wedged);
- no raw exception escapes, and the store invariants hold (``common.store_problems``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from .bad_input import for_examples
from .common import HarnessResult, store_problems

PIPELINE_FILE = '''
import os

from gristmill.components import OutputArtifact, Parameter, component
from gristmill.metadata.standard_artifacts import Examples
from gristmill.orchestrator import Pipeline


@component
def Make(out: OutputArtifact[Examples], value: Parameter[int] = 1) -> None:
    """Write one value."""
    with open(os.path.join(out.uri, "value.txt"), "w") as f:
        f.write(str(value))


def create_pipeline(root: str = "", metadata_url: str = ""):
    return Pipeline({name!r}, [Make(value={value})], root=root, metadata_url=metadata_url,
                    tracking_uri="", pipeline_id={pipeline_id!r})
'''

#: How the second pipeline relates to the first -> whether it is the same pipeline.
SECOND = {"same file": True, "same id": True, "another file": False, "moved file": False,
          "another id": False, "id vs file": False}

scenarios = st.fixed_dictionaries({
    "name": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,30}", fullmatch=True),
    "second": st.sampled_from(sorted(SECOND)),
    "allow": st.booleans(),
    "values": st.tuples(st.integers(0, 3), st.integers(0, 3)),
})


def _write(folder: Path, name: str, value: int, pipeline_id: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipeline.py"
    path.write_text(PIPELINE_FILE.format(name=name, value=value, pipeline_id=pipeline_id))
    return path


def _first(case: dict[str, Any], base: Path) -> Path:
    first_id = "team-a" if case["second"] in ("same id", "another id") else None
    return _write(base / "a", case["name"], case["values"][0], first_id)


def _second(case: dict[str, Any], base: Path, first: Path) -> Path:
    """The second pipeline file, made after the first has run."""
    second = case["second"]
    if second == "same file":
        return first
    if second == "moved file":
        moved = base / "moved" / "pipeline.py"
        moved.parent.mkdir()
        shutil.move(first, moved)
        return moved
    second_id = {"same id": "team-a", "another id": "team-b", "id vs file": "team-b"}.get(second)
    return _write(base / "b", case["name"], case["values"][1], second_id)


def _run(path: Path, base: Path, allow: bool = False):
    from gristmill.orchestrator.cli_commands import load_pipeline
    from gristmill.orchestrator.runner import SequentialRunner

    pipeline, _ = load_pipeline(str(path), [f"root={base / 'root'}",
                                            f"metadata_url={_url(base)}"])
    return SequentialRunner(mirror_mlflow=False).run(pipeline, allow_shared_name=allow)


def _url(base: Path) -> str:
    return f"sqlite:///{base / 'metadata.db'}"


def _snapshot(base: Path) -> tuple[int, int, int]:
    from gristmill.metadata.store import PIPELINE_RUN, open_store

    with open_store(_url(base)) as store:
        return (len(store.list_contexts(PIPELINE_RUN)), len(store.list_executions()),
                len(store.list_artifacts()))


def check(case: dict[str, Any], base: Path) -> str | None:
    """None when the scenario behaved; else what went wrong."""
    from gristmill.metadata.errors import GristmillError

    first = _first(case, base)
    if _run(first, base).status != "COMPLETE":
        return "the first run did not complete"
    second = _second(case, base, first)
    same = SECOND[case["second"]]
    before = _snapshot(base)
    try:
        result = _run(second, base, allow=case["allow"])
    except GristmillError as e:
        text = str(e)
        if same or case["allow"]:
            return f"refused although {'the same pipeline' if same else 'allowed'}: {text[:200]}"
        wanted = [f"Pipeline {case['name']!r}", "already holds the history of a different "
                  "pipeline", "Fix:", "--allow-shared-name"]
        missing = [w for w in wanted if w not in text]
        if missing:
            return f"refusal lacks {missing}: {text[:300]}"
        if _snapshot(base) != before:
            return f"the refused run changed the store: {before} -> {_snapshot(base)}"
        return _problems(base)
    except Exception as e:  # noqa: BLE001 - a raw exception is a finding, not a crash
        return f"raw {type(e).__name__}: {e}"
    if not same and not case["allow"]:
        return "a different pipeline under a used name was not refused"
    if result.status != "COMPLETE":
        return f"the second run is {result.status}"
    for path in {p for p in (first, second) if p.exists()}:  # nothing is wedged afterwards
        if _run(path, base).status != "COMPLETE":
            return f"{path} no longer runs after the shared run"
    return _problems(base)


def _problems(base: Path) -> str | None:
    from gristmill.metadata.store import open_store

    with open_store(_url(base)) as store:
        problems = store_problems(store)
    return f"store problems: {problems[:3]}" if problems else None


def run(trials: int = 40, work: Path | None = None) -> dict:
    """``trials`` generated scenarios; the JSON entry of ``make reliability``."""
    result = HarnessResult("same_name")
    with tempfile.TemporaryDirectory(prefix="gm-same-name-") as tmp:
        base = work or Path(tmp)
        index = [0]

        def one(case: dict[str, Any]) -> None:
            index[0] += 1
            folder = base / str(index[0])
            try:
                problem = check(case, folder)
            except Exception as e:  # noqa: BLE001 - the check must not stop the harness
                problem = f"harness error {type(e).__name__}: {e}"
            result.check(problem is None, f"case {index[0]} {case}: {problem}",
                         kind=case["second"] + (" allowed" if case["allow"] else ""))
            kinds = result.figures.setdefault("scenarios", {})
            label = f"{case['second']}{' +allow' if case['allow'] else ''}"
            kinds[label] = kinds.get(label, 0) + 1

        for_examples(scenarios, trials, one)
    return result.to_dict()
