"""Crash safety: kill -9 a pipeline run at random moments, re-run it, check the invariants.

Each trial starts ``gristmill run`` on the crash pipeline with a fresh store and root and
kills it, either at a random delay after the pipeline is defined or at a named point
(inside an executor, around the promotion of outputs, inside the publish transaction,
between components; see ``crash_pipeline.py``). Some trials crash a second time during the
first re-run. After each crash, and after the final re-run, it checks that:

- no LIVE artifact points at missing or partial files (fingerprints verify);
- the re-run succeeds and leaves no execution NEW or RUNNING (the killed ones recovered);
- the final outputs' fingerprints equal those of an uninterrupted run.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

from .common import (
    CRASH_PIPELINE,
    HarnessResult,
    cli_env,
    crash_run_args,
    finish,
    fresh_dir,
    kill_group,
    run_cli,
    run_output_fingerprints,
    start,
    store_problems,
    unfinished_executions,
)
from .crash_pipeline import CRASH_ENV, POINTS, READY_ENV

# How many times each point is reached in one uninterrupted run of the crash pipeline.
_POINT_REACHES = {"register": 4, "executor": 6, "promote": 5, "after_promote": 5,
                  "in_publish_tx": 4, "after_publish": 4}


def reference_run(work: Path) -> tuple[dict[str, str], float]:
    """Fingerprints of an uninterrupted run's outputs, and its duration after definition."""
    from gristmill.metadata.store import open_store

    home = fresh_dir(work / "reference")
    ready = home / "ready"
    url = f"sqlite:///{home / 'metadata.db'}"
    started = time.time()
    rc, result, text = run_cli(crash_run_args(home / "root", url),
                               cli_env(home, **{READY_ENV: str(ready)}), home / "log.txt")
    if rc != 0 or result is None:
        raise RuntimeError(f"the uninterrupted crash pipeline run failed (rc {rc}):\n{text}")
    ended = time.time()
    defined = float(ready.read_text()) if ready.exists() else started
    with open_store(url) as store:
        return run_output_fingerprints(store, result), max(0.2, ended - defined)


def plan_trials(count: int, rng: random.Random) -> list[dict]:
    """Half random-delay kills, half kills at named points; every 5th crashes twice."""
    plans = []
    named = [(p, n) for p in POINTS for n in range(1, _POINT_REACHES[p] + 1)]
    rng.shuffle(named)
    for i in range(count):
        plan: dict = {"second_crash": i % 5 == 4}
        if i % 2 == 0 or not named:
            plan["delay"] = rng.random()  # fraction of the reference run's duration
        else:
            point, nth = named[(i // 2) % len(named)]
            plan["point"] = f"{point}:{nth}"
        plans.append(plan)
    return plans


def _crash_once(home: Path, url: str, plan: dict, run_seconds: float, tag: str) -> str:
    """One killed run; returns how it ended ('killed', 'finished' or 'killed-at-point')."""
    ready = home / f"ready-{tag}"
    ready.unlink(missing_ok=True)
    extra = {READY_ENV: str(ready)}
    if "point" in plan:
        extra[CRASH_ENV] = plan["point"]
    process = start(crash_run_args(home / "root", url), cli_env(home, **extra),
                    home / f"log-{tag}.txt")
    if "point" in plan:
        rc = finish(process)
        return "killed-at-point" if rc == -9 else f"finished rc={rc}"
    deadline = time.time() + 60
    while not ready.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    time.sleep(plan["delay"] * run_seconds * 1.15)
    finished = process.poll() is not None
    kill_group(process)
    finish(process)
    return "finished" if finished else "killed"


def run_trial(work: Path, index: int, plan: dict, reference: dict[str, str],
              run_seconds: float, endings: dict[str, int]) -> list[str]:
    """One trial: crash (once or twice), check, re-run, check. Returns the problems found."""
    from gristmill.metadata.store import open_store

    home = fresh_dir(work / f"trial-{index:03d}")
    url = f"sqlite:///{home / 'metadata.db'}"
    how = _crash_once(home, url, plan, run_seconds, "1")
    for _ in range(4):  # the machine was faster than the reference run: kill sooner
        if how != "finished":
            break
        home = fresh_dir(home)
        plan = {**plan, "delay": plan["delay"] / 2}
        how = _crash_once(home, url, plan, run_seconds, "1")
    if plan["second_crash"]:
        how += "+" + _crash_once(home, url, {"delay": (plan.get("delay") or 0.5) / 2,
                                             "second_crash": False}, run_seconds, "2")
    endings[how] = endings.get(how, 0) + 1
    problems = []
    if "point" in plan and not how.startswith("killed-at-point"):
        problems.append(f"crash point {plan['point']} was never reached ({how})")
    if (home / "metadata.db").exists():
        with open_store(url) as store:
            problems += [f"right after the crash: {p}" for p in store_problems(store)]
            running = len(unfinished_executions(store))
        endings[f"{running} executions left RUNNING"] = (
            endings.get(f"{running} executions left RUNNING", 0) + 1)
    rc, rerun, text = run_cli(crash_run_args(home / "root", url), cli_env(home),
                              home / "log-rerun.txt")
    if rc != 0 or rerun is None or rerun["status"] != "COMPLETE":
        return [*problems, f"re-run failed (rc {rc}): {text[-800:]}"]
    with open_store(url) as store:
        problems += [f"after the re-run: {p}" for p in store_problems(store)]
        problems += [f"after the re-run: {p}" for p in unfinished_executions(store)]
        outputs = run_output_fingerprints(store, rerun)
    differing = sorted(k for k in reference if outputs.get(k) != reference[k])
    if differing:
        problems.append(f"outputs differ from an uninterrupted run: {differing}")
    return problems


def run(trials: int = 100, seed: int = 20240601, work: Path | None = None) -> dict:
    """Run ``trials`` crash trials; returns ``{trials, failures, details, ...}``."""
    result = HarnessResult("crash")
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="gm-crash-") as tmp:
        work = work or Path(tmp)
        reference, run_seconds = reference_run(work)
        result.figures["reference_run_seconds"] = round(run_seconds, 2)
        endings: dict[str, int] = {}
        for index, plan in enumerate(plan_trials(trials, rng)):
            how = plan.get("point") or f"delay {plan['delay']:.2f}"
            label = f"trial {index} ({how})"
            try:
                problems = run_trial(work, index, plan, reference, run_seconds, endings)
            except Exception as e:  # a harness bug must show as a failure, not stop the rest
                problems = [f"harness error {type(e).__name__}: {e}"]
            result.check(not problems, f"{label}: {problems[:3]}")
        result.figures["endings"] = endings
    result.figures["pipeline"] = str(CRASH_PIPELINE.relative_to(CRASH_PIPELINE.parents[2]))
    return result.to_dict()


if __name__ == "__main__":
    import json

    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 10)))
