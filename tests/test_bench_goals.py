"""bench/goals.py: issue 20's goals read from a suite's results; bench/report.py's suite runner."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def goals():
    sys.path.insert(0, str(BENCH))
    try:
        import goals as module

        yield module
    finally:
        sys.path.remove(str(BENCH))


def _verdicts(goals, results) -> dict[str, str]:
    return {row[1]: row[4] for row in goals.goal_rows(results)}


def test_missing_or_failed_benchmarks_are_not_measured_never_met(goals):
    verdicts = _verdicts(goals, {"e2e": {"error": "Traceback ..."}})
    assert verdicts["penguin cold, wall s"] == "not measured"
    assert set(verdicts.values()) == {"not measured"}


def test_figures_are_compared_with_each_target(goals):
    results = {
        "e2e": {"cold_seconds": 3.9, "cached_run_seconds": 0.6, "replay_cpu_seconds": 1.0},
        "stats-1m": {"ratio": 2.01}, "examplegen": {"ratio": 1.5},
        "stats-100k": {"seconds": 0.5, "floor_seconds": 0.25},
        "scaling": {"stats": {"speedup": 1.7, "t1": 2.0, "t2": 1.18, "t2_mode": "threads"},
                    "transform": {"speedup": 1.2}},
        "ui": {"health_seconds": 12.0, "rss_mb": 486},
        "trainer-e2e": {"penguin": {"ratio": 1.1}, "taxi": {"ratio": 1.3}},
    }
    verdicts = _verdicts(goals, results)
    assert verdicts["penguin cold, wall s"] == "met"
    assert verdicts["penguin cached, run s"] == "missed"
    assert verdicts["MLflow replay CPU s per run"] == "met"  # the limit itself is met
    assert verdicts["stats-1m ratio to floor (1M rows)"] == "missed"
    assert verdicts["examplegen ratio to floor (1M rows)"] == "met"
    assert verdicts["stats-100k: seconds above floor"] == "met"
    assert verdicts["stats speedup, 2 workers vs 1 (threads)"] == "met"
    assert verdicts["transform speedup, 2 workers vs 1 (None)"] == "missed"
    assert verdicts["gristmill ui: s to /health"] == "missed"
    assert verdicts["gristmill ui: RSS MB, all processes"] == "met"
    assert verdicts["Trainer wall / training loop (penguin)"] == "met"
    assert verdicts["Trainer wall / training loop (taxi)"] == "missed"


def test_growth_compares_the_marginal_cost_with_the_10m_average(goals):
    def capacity(rows, stats_cpu, transform_cpu, peak):
        return {"rows": rows, "stats": {"cpu_s": stats_cpu},
                "transform": {"cpu_s": transform_cpu}, "peak_rss_mb": peak}

    results = {"capacity-1m": capacity(10**6, 2.0, 1.0, 400),  # fixed cost: 2 s per 1M
               "capacity-10m": capacity(10**7, 10.0, 10.0, 420),
               "capacity-50m": capacity(5 * 10**7, 50.0, 70.0, 700)}
    verdicts = _verdicts(goals, results)
    stats = "stats CPU-s per 1M rows at 1M/10M/50M; marginal 10M->50M"
    transform = "transform CPU-s per 1M rows at 1M/10M/50M; marginal 10M->50M"
    assert verdicts[stats] == "met"  # marginal 1.0 per 1M = the 10M average
    assert verdicts[transform] == "missed"  # marginal 1.5 per 1M > 1.25 x 1.0
    assert verdicts["peak RSS MiB at 1M/10M/50M"] == "missed"
    row = next(r for r in goals.goal_rows(results) if r[1] == stats)
    assert row[2] == "2.0 / 1.0 / 1.0; 1.0"


def test_a_gpu_figure_measured_on_the_cpu_is_not_the_goals(goals):
    verdicts = _verdicts(goals, {"gpu": {"device": "cpu", "rows_per_second": 30_000_000}})
    assert verdicts["3x256 MLP rows/s on cpu"].startswith("not measured")


def test_the_table_counts_each_verdict(goals):
    lines = goals.render_goals({"ui": {"health_seconds": 5.0, "rss_mb": 900}})
    assert "1 met, 1 missed" in lines[2]
    assert any("**missed**" in line and "RSS" in line for line in lines)


def test_suite_runner_labels_sizes_and_notes_the_load(goals, tmp_path):
    import report

    output = tmp_path / "benchmarks.md"
    output.write_text("# Benchmarks\n\nhand-written text\n")
    suites = {"tiny": {"cli-twice": ("cli", ["--repeat", "2"]), "nonexistent": []}}
    assert report.run_all(["--suite", "tiny", "--output", str(output)], suites) == 0
    text = output.read_text()
    assert "hand-written text" in text
    assert "### Issue 20's goals from this run" in text
    row = next(line for line in text.splitlines() if line.startswith("| cli-twice |"))
    assert "python bench/run.py cli --json --repeat 2" in row and " -> " in row
    failed = next(line for line in text.splitlines() if line.startswith("| nonexistent |"))
    assert "error:" in failed
