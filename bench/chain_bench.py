"""Orchestration overhead per node: a 10- and a 50-node chain of trivial ``@component``s.

``python bench/run.py chain --json`` runs each chain cold (a fresh metadata store, a fresh
pipeline name) in this process with the ``LocalDagRunner``, with the MLflow mirror on (the
default journal mode: events go to a JSONL journal, a detached process replays it after the
run) and off, on SQLite; and on PostgreSQL over TCP when ``GRISTMILL_TEST_DB_URL`` is set.
Per configuration it reports ``marginal_ms_per_node`` = (t50 - t10) / 40 (the fixed cost of
a run cancels out) and the metadata-store round trips per node, counted as SQLAlchemy
statement executions (``before_cursor_execute`` on every engine).

The machine may be noisy: configurations are alternated within each repetition, a warm-up
run is discarded, and the medians are reported. After a mirrored run the benchmark waits for
the detached replay to finish so it does not compete with the next measurement.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from e2e_bench import watch_replay

SIZES = (10, 50)
PG_URL_ENV = "GRISTMILL_TEST_DB_URL"


def add_arguments(parser) -> None:
    """``--repeats N`` (default 5) and ``--sizes A,B``."""
    parser.add_argument("--repeats", type=int, default=5, help="measurements per configuration")
    parser.add_argument("--configs", help="comma-separated subset of the configurations, "
                        "e.g. postgres_mirror_off (default: all)")
    parser.add_argument("--profile", metavar="FILE",
                        help="write a cProfile of one 50-node mirrored SQLite run to FILE")


def run(args) -> dict:
    """Alternate the configurations ``--repeats`` times; medians per configuration."""
    home = Path(tempfile.mkdtemp(prefix="gristmill-chain-"))
    os.environ["GRISTMILL_HOME"] = str(home)
    os.environ.pop("GRISTMILL_MLFLOW_MIRROR", None)  # the default (journal + detached replay)
    counter = _install_statement_counter()
    configs = {"sqlite_mirror_on": ("sqlite", True), "sqlite_mirror_off": ("sqlite", False)}
    if os.environ.get(PG_URL_ENV):
        configs["postgres_mirror_on"] = ("postgres", True)
        configs["postgres_mirror_off"] = ("postgres", False)
    if args.configs:
        configs = {k: v for k, v in configs.items() if k in args.configs.split(",")}
    for backend, mirror in configs.values():  # warm-up: imports, MLflow database, pools
        _one_run(home, backend, mirror, SIZES[0], counter)
    samples: dict[str, dict[int, list[tuple]]] = {
        name: {n: [] for n in SIZES} for name in configs}
    for _ in range(args.repeats):
        for name, (backend, mirror) in configs.items():
            for n in SIZES:
                samples[name][n].append(_one_run(home, backend, mirror, n, counter))
    if args.profile:
        _profile(home, counter, args.profile)
    result: dict = {"rows": 0, "repeats": args.repeats, "sizes": list(SIZES),
                    "cpu_count": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2)}
    for name, by_size in samples.items():
        result[name] = _summary(by_size)
    main = result[next(iter(configs))]
    result["seconds"] = main["t50_seconds"]
    result["marginal_ms_per_node"] = main["marginal_ms_per_node"]
    result["round_trips_per_node"] = main["round_trips_per_node"]
    result["goal_ms_per_node"] = {"sqlite_mirror_on": 10, "postgres": 20}
    return result


def _summary(by_size: dict[int, list[tuple]]) -> dict:
    small, large = SIZES
    pairs = list(zip(by_size[small], by_size[large], strict=True))

    def per_node(index: int, scale: float = 1000.0) -> list[float]:
        # Medians of the paired differences are steadier than differences of medians.
        return [(b[index] - a[index]) / (large - small) * scale for a, b in pairs]

    marginals = per_node(0)
    return {"t10_seconds": round(statistics.median(s[0] for s in by_size[small]), 3),
            "t50_seconds": round(statistics.median(s[0] for s in by_size[large]), 3),
            "marginal_ms_per_node": round(statistics.median(marginals), 2),
            "marginal_ms_samples": [round(m, 1) for m in marginals],
            # CPU of this process only (a loaded machine inflates wall, much less CPU).
            "marginal_cpu_ms_per_node": round(statistics.median(per_node(1)), 2),
            "round_trips_per_node": round(statistics.median(per_node(2, 1.0)), 2),
            "round_trips_t50": by_size[large][0][2],
            "transactions_per_node": round(statistics.median(per_node(3, 1.0)), 2),
            "pings_per_node": round(statistics.median(per_node(4, 1.0)), 2),
            # On PostgreSQL a transaction adds 2 round trips (BEGIN, COMMIT) to its
            # statements; each ping 1. SQLite's are function calls, not round trips.
            "server_round_trips_per_node": round(statistics.median(
                [(b[2] - a[2]) + 2 * (b[3] - a[3]) + (b[4] - a[4])
                 for a, b in pairs]) / (large - small), 2)}


def _one_run(home: Path, backend: str, mirror: bool, n: int, counter: list[int],
             runner=None) -> tuple[float, float, int, int, int]:
    """Wall and CPU seconds of one cold run of an ``n``-node chain, and the statements,
    transactions and pings it sent."""
    from gristmill.orchestrator import LocalDagRunner

    pipeline = build_chain(home, backend, n)
    runner = runner or LocalDagRunner(mirror_mlflow=mirror)
    before = list(counter)
    started, cpu_started = time.perf_counter(), time.process_time()
    result = runner.run(pipeline)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    statements, transactions, pings = (now - then for now, then in zip(counter, before,
                                                                        strict=True))
    if result.status != "COMPLETE" or len(result.components) != n:
        raise RuntimeError(f"chain of {n} ended {result.status}: "
                           f"{[c.error for c in result.components if c.error][:1]}")
    if mirror:  # until the replay process has exited, not only renamed the journal
        _wait_for_replay(home / "mirror")
        watch_replay(home, appear_within=0.0)
    return seconds, cpu, statements, transactions, pings


def build_chain(home: Path, backend: str, n: int):
    """A fresh pipeline (new name, new store when SQLite) of ``n`` chained steps."""
    from chain_steps import chain_components

    from gristmill.orchestrator import Pipeline

    name = f"chain{n}_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        url = f"sqlite:///{home / (name + '.db')}"
    else:
        url = os.environ[PG_URL_ENV]
    return Pipeline(name, chain_components(n), root=str(home / "pipelines" / name),
                    metadata_url=url, pipeline_id=f"bench-{name}")


def _install_statement_counter() -> list[int]:
    """Count every SQL statement any engine sends (one round trip each), in ``counter[0]``;
    in ``counter[1]`` the transactions that end in a ``COMMIT``/``ROLLBACK`` sent to the
    server (not those of AUTOCOMMIT connections, whose commit sends nothing), and in
    ``counter[2]`` PostgreSQL connection pings (one round trip each)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    counter = [0, 0, 0]

    def count(*_args) -> None:
        counter[0] += 1

    def end(connection) -> None:
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            counter[1] += 1

    event.listen(Engine, "before_cursor_execute", count)
    event.listen(Engine, "commit", end)
    event.listen(Engine, "rollback", end)
    try:
        from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
    except ImportError:
        return counter
    ping = PGDialect_psycopg.do_ping

    def counted_ping(self, dbapi_connection):
        counter[2] += 1
        return ping(self, dbapi_connection)

    PGDialect_psycopg.do_ping = counted_ping
    return counter


def _wait_for_replay(mirror: Path, timeout: float = 120.0) -> None:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if not list(mirror.glob("*.ready")) and not list(mirror.glob("*.jsonl")):
            return
        time.sleep(0.05)
    print(f"warning: MLflow replay still pending after {timeout} s", file=sys.stderr)


def _profile(home: Path, counter: list[int], path: str) -> None:
    """cProfile sees one thread: profile the 50-node chain on the SequentialRunner (the
    same lifecycle, run in the calling thread)."""
    import cProfile

    from gristmill.orchestrator import SequentialRunner

    profiler = cProfile.Profile()
    profiler.enable()
    _one_run(home, "sqlite", True, 50, counter, SequentialRunner())
    profiler.disable()
    profiler.dump_stats(path)
