"""Issue 20's goals, each read from the results of one ``bench/run.py all --suite full`` run.

:func:`goal_rows` turns the suite's results into table rows: goal, the figure measured,
the target, and whether it was met. A figure whose benchmark failed or did not run is
reported as "not measured", never as met.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Results = dict[str, dict[str, Any]]
NOT_MEASURED = "not measured"


def _get(results: Results, bench: str, *path: str) -> Any:
    value: Any = results.get(bench)
    if not isinstance(value, dict) or "error" in value:
        return None
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _at_most(value: Any, limit: float) -> str:
    if value is None:
        return NOT_MEASURED
    return "met" if value <= limit else "missed"


def _at_least(value: Any, limit: float) -> str:
    if value is None:
        return NOT_MEASURED
    return "met" if value >= limit else "missed"


def _above_floor(results: Results, bench: str) -> float | None:
    seconds, floor = _get(results, bench, "seconds"), _get(results, bench, "floor_seconds")
    return None if seconds is None or floor is None else round(seconds - floor, 3)


def _scaling_rows(results: Results) -> list[tuple]:
    rows = []
    for component in ("stats", "transform", "examplegen"):
        speedup = _get(results, "scaling", component, "speedup")
        mode = _get(results, "scaling", component, "t2_mode")
        t1, t2 = _get(results, "scaling", component, "t1"), _get(results, "scaling", component,
                                                                     "t2")
        rows.append(("1 all cores", f"{component} speedup, 2 workers vs 1 ({mode})",
                     f"{speedup} ({t1} s -> {t2} s)", ">= 1.7", _at_least(speedup, 1.7)))
    return rows


def _fixed_cost_rows(results: Results) -> list[tuple]:
    rows = []
    for bench, limit in (("stats-1m", 2.0), ("examplegen", 1.5), ("transform-1m", 1.5)):
        ratio = _get(results, bench, "ratio")
        rows.append(("2 fixed cost", f"{bench} ratio to floor (1M rows)", ratio, f"<= {limit}",
                     _at_most(ratio, limit)))
    for bench in ("stats-100k", "examplegen-100k", "transform-100k"):
        above = _above_floor(results, bench)
        rows.append(("2 fixed cost", f"{bench}: seconds above floor", above, "<= 0.3",
                     _at_most(above, 0.3)))
    return rows


def _trainer_rows(results: Results) -> list[tuple]:
    rows = []
    for dataset in ("penguin", "taxi"):
        ratio = _get(results, "trainer-e2e", dataset, "ratio")
        rows.append(("3 trainer", f"Trainer wall / training loop ({dataset})", ratio,
                     "<= 1.25", _at_most(ratio, 1.25)))
    return rows


def _dag_rows(results: Results) -> list[tuple]:
    cold, cached = _get(results, "e2e", "cold_seconds"), _get(results, "e2e",
                                                               "cached_run_seconds")
    replay = _get(results, "e2e", "replay_cpu_seconds")
    sqlite = _get(results, "chain", "sqlite_mirror_on", "marginal_ms_per_node")
    postgres = _get(results, "chain", "postgres_mirror_on", "marginal_ms_per_node")
    return [("4 DAG", "penguin cold, wall s", cold, "<= 4", _at_most(cold, 4)),
            ("4 DAG", "penguin cached, run s", cached, "<= 0.5", _at_most(cached, 0.5)),
            ("4 DAG", "MLflow replay CPU s per run", replay, "<= 1", _at_most(replay, 1)),
            ("4 DAG", "ms per node, SQLite, mirror on", sqlite, "<= 10", _at_most(sqlite, 10)),
            ("4 DAG", "ms per node, PostgreSQL TCP, mirror on", postgres, "<= 20",
             _at_most(postgres, 20))]


def _ui_rows(results: Results) -> list[tuple]:
    health, rss = _get(results, "ui", "health_seconds"), _get(results, "ui", "rss_mb")
    return [("5 UI", "gristmill ui: s to /health", health, "<= 10", _at_most(health, 10)),
            ("5 UI", "gristmill ui: RSS MB, all processes", rss, "<= 600", _at_most(rss, 600))]


def _growth_rows(results: Results) -> list[tuple]:
    """Per-row cost must not grow with size: the marginal CPU-s per million rows from 10M
    to 50M (fixed costs cancel) at most 1.25x the average per million at 10M."""
    rows = []
    sizes = ("capacity-1m", "capacity-10m", "capacity-50m")
    for component in ("stats", "transform"):
        per_million = [_per_million(results, size, component) for size in sizes]
        slope = _marginal_per_million(results, component)
        verdict = NOT_MEASURED
        if slope is not None and per_million[1]:
            verdict = "met" if slope <= 1.25 * per_million[1] else "missed"
        rows.append(("6 growth", f"{component} CPU-s per 1M rows at 1M/10M/50M; marginal "
                     "10M->50M", f"{' / '.join(map(str, per_million))}; {slope}",
                     "marginal <= 1.25x the 10M average", verdict))
    peaks = [_get(results, size, "peak_rss_mb") for size in sizes]
    rows.append(("6 growth", "peak RSS MiB at 1M/10M/50M", " / ".join(map(str, peaks)),
                 "flat (max <= 1.25x min)", NOT_MEASURED if None in peaks else
                 ("met" if max(peaks) <= 1.25 * min(peaks) else "missed")))
    completed, rows_capped = _get(results, "memory", "completed"), _get(results, "memory", "rows")
    rows.append(("6 growth", f"{rows_capped} rows under a 512 MB cap (stats + transform)",
                 completed, "completed, never over the cap", NOT_MEASURED if completed is None
                 else ("met" if completed else "missed")))
    return rows


def _marginal_per_million(results: Results, component: str) -> float | None:
    small = _get(results, "capacity-10m", component, "cpu_s")
    large = _get(results, "capacity-50m", component, "cpu_s")
    rows_small, rows_large = _get(results, "capacity-10m", "rows"), _get(results,
                                                                        "capacity-50m", "rows")
    if None in (small, large, rows_small, rows_large) or rows_large <= rows_small:
        return None
    return round((large - small) / (rows_large - rows_small) * 1e6, 2)


def _per_million(results: Results, size: str, component: str) -> float | None:
    cpu, rows = _get(results, size, component, "cpu_s"), _get(results, size, "rows")
    return None if cpu is None or not rows else round(cpu / rows * 1e6, 2)


def _gpu_rows(results: Results) -> list[tuple]:
    rate, device = _get(results, "gpu", "rows_per_second"), _get(results, "gpu", "device")
    verdict = _at_least(rate, 20_000_000)
    if device == "cpu":
        verdict = "not measured (no GPU: CPU figure)"
    return [("7 GPU", f"3x256 MLP rows/s on {device}", rate, ">= 20,000,000", verdict)]


SECTIONS: tuple[Callable[[Results], list[tuple]], ...] = (
    _scaling_rows, _fixed_cost_rows, _trainer_rows, _dag_rows, _ui_rows, _growth_rows,
    _gpu_rows)


def goal_rows(results: Results) -> list[tuple]:
    """(goal, measurement, value, target, verdict) for every figure issue 20 names."""
    return [row for section in SECTIONS for row in section(results)]


def render_goals(results: Results) -> list[str]:
    """The goals as a markdown table, with a count of met / missed / not measured."""
    rows = goal_rows(results)
    counts = {v: sum(1 for r in rows if r[4].startswith(v))
              for v in ("met", "missed", "not measured")}
    lines = ["### Issue 20's goals from this run", "",
             f"{counts['met']} met, {counts['missed']} missed, {counts['not measured']} not "
             "measured.", "", "| goal | measurement | value | target | verdict |",
             "|---|---|---|---|---|"]
    lines += [f"| {g} | {m} | {v} | {t} | **{verdict}** |" for g, m, v, t, verdict in rows]
    return lines + [""]
