"""The penguin DAG on a 2-node local Ray cluster vs LocalDagRunner: overhead per node.

``python bench/run.py ray --json`` starts a Ray cluster on this machine (a head and one more
node process, ``--cpus-per-node`` CPUs each, no dashboard, small object stores), then runs
the penguin pipeline four times, cache off, each into a fresh root and store:

1. ``local_cold``: LocalDagRunner in this process, paying the Beam/torch imports;
2. ``ray_cold``: RayDagRunner, its worker processes starting and importing Beam/torch as
   the nodes arrive;
3. ``local_warm``: LocalDagRunner again (imports done);
4. ``ray_warm``: RayDagRunner again in the same Ray job (workers already started).

Reported: the wall time of each, per-node seconds, the overhead per executed node of each
Ray run over the local run of the same warmth (``(ray - local) / nodes``), how many Ray
nodes and worker processes ran executors, and which outputs' fingerprints differ from the
first local run (a local re-run shows which outputs differ between any two runs).
``--rows`` is unused (the penguin data is fixed).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PENGUIN = REPO / "pipelines" / "penguin" / "pipeline.py"
OBJECT_STORE = 100 * 2 ** 20


def add_arguments(parser) -> None:
    """``--cpus-per-node``, ``--epochs``."""
    parser.add_argument("--cpus-per-node", type=int, default=1, help="CPUs of each Ray node")
    parser.add_argument("--epochs", type=int, default=10, help="penguin Trainer epochs")


def _pipeline(work: Path, name: str, epochs: int):
    from gristmill.orchestrator.cli_commands import load_pipeline

    base = work / name
    params = [f"root={base / 'root'}", f"metadata_url=sqlite:///{base / 'metadata.db'}",
              "tracking_uri=", f"serving_model_dir={base / 'serving'}", f"epochs={epochs}",
              "enable_cache=False"]
    return load_pipeline(str(PENGUIN), params)[0]


def _timed_run(runner, pipeline) -> tuple[float, object]:
    started = time.perf_counter()
    result = runner.run(pipeline)
    return time.perf_counter() - started, result


def _fingerprints(result) -> dict[str, list]:
    return {f"{n.node_id}.{k}": [a.fingerprint for a in v]
            for n in result.components for k, v in n.outputs.items()}


def _placements(pipeline) -> dict[str, dict]:
    from gristmill.metadata.store import open_store

    with open_store(pipeline.metadata_url) as store:
        return {e.component_id: {k: e.custom_properties.get(k)
                                 for k in ("executor_pid", "ray_node_id")}
                for e in store.list_executions(pipeline_name=pipeline.name)}


def _summary(seconds: float, result) -> dict:
    return {"status": result.status, "seconds": round(seconds, 2),
            "node_seconds": {n.node_id: round(n.seconds, 2) for n in result.components}}


def run(args) -> dict:
    os.environ.setdefault("GRISTMILL_MLFLOW_MIRROR", "off")
    import ray
    from ray.cluster_utils import Cluster

    from gristmill.orchestrator import LocalDagRunner, RayDagRunner

    work = Path(tempfile.mkdtemp(prefix="gristmill-ray-bench-"))
    os.environ["GRISTMILL_HOME"] = str(work / "home")
    started = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": args.cpus_per_node, "include_dashboard": False,
        "object_store_memory": OBJECT_STORE})
    cluster.add_node(num_cpus=args.cpus_per_node, object_store_memory=OBJECT_STORE)
    cluster.wait_for_nodes()
    cluster_seconds = time.perf_counter() - started
    try:
        runs = {"local_cold": _timed_run(LocalDagRunner(), _pipeline(work, "local_cold",
                                                                     args.epochs))}
        ray.init(address=cluster.address, log_to_driver=False)
        for name in ("ray_cold", "local_warm", "ray_warm"):
            runner = RayDagRunner() if name.startswith("ray") else LocalDagRunner()
            pipeline = _pipeline(work, name, args.epochs)
            runs[name] = (*_timed_run(runner, pipeline), _placements(pipeline))
        ray.shutdown()
    finally:
        cluster.shutdown()
    return _report(runs, cluster_seconds, args.cpus_per_node)


def _report(runs: dict, cluster_seconds: float, cpus_per_node: int) -> dict:
    """Each run's summary; Ray runs compared with the local run of the same warmth."""
    local_cold = runs["local_cold"][1]
    executed = sum(1 for n in local_cold.components if n.state.value == "COMPLETE")
    reference = _fingerprints(local_cold)
    out = {"rows": 0, "seconds": round(runs["ray_warm"][0], 2),
           "floor_seconds": round(runs["local_warm"][0], 2),
           "ratio": round(runs["ray_warm"][0] / runs["local_warm"][0], 2),
           "cluster_start_seconds": round(cluster_seconds, 2), "nodes_executed": executed,
           "cpus_per_ray_node": cpus_per_node, "load_avg_1m": round(os.getloadavg()[0], 2)}
    for name, (seconds, result, *placements) in runs.items():
        out[name] = _summary(seconds, result)
        out[name]["outputs_differing_from_local_cold"] = sorted(
            key for key, value in _fingerprints(result).items() if value != reference.get(key))
        if name.startswith("ray"):
            local_seconds = runs[name.replace("ray", "local")][0]
            out[name]["overhead_per_node_s"] = round((seconds - local_seconds) / executed, 2)
            where = placements[0].values()
            out[name]["ray_nodes_used"] = len({p["ray_node_id"] for p in where} - {None})
            out[name]["worker_pids"] = len({p["executor_pid"] for p in where} - {None})
    return out


if __name__ == "__main__":
    sys.exit("run it with: python bench/run.py ray --json")
