"""The ``run-node`` and ``compile`` commands, registered on the ``gristmill`` parser.

Only argparse here: the handlers import the runner and the targets when they run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

TARGETS = ("airflow", "kfp")


def add_commands(sub) -> None:
    """Add ``run-node`` and ``compile`` to the ``gristmill`` subcommands."""
    node = sub.add_parser(
        "run-node", help="run one node of a pipeline run (for Airflow, KFP, any scheduler)",
        epilog="exit 0: COMPLETE, CACHED or already done in this run; 99: SKIPPED (a Cond "
               "was false; Airflow's skip code); 1: FAILED, canceled or refused; 2: an "
               "upstream node has not succeeded in this run yet, or a configuration error")
    node.add_argument("file", help="the pipeline file (create_pipeline(**params))")
    node.add_argument("node_id", help="the node to run")
    node.add_argument("--run-id", default=os.environ.get("GRISTMILL_RUN_ID"),
                      help="the scheduler's run id; every node of one run passes the same "
                           "(default $GRISTMILL_RUN_ID)")
    node.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                      help="argument for create_pipeline (repeatable)")
    _location_args(node)
    node.add_argument("--no-cache", action="store_true", help="do not reuse earlier outputs")
    node.add_argument("--scheduler-retries", action="store_true",
                      help="one attempt: the scheduler retries failed tasks itself")
    node.add_argument("--duplicate-wait", type=float, default=600.0, metavar="SECONDS",
                      help="how long to wait for a concurrent copy of this node to decide")
    node.add_argument("--json", action="store_true", help="last stdout line is one JSON object")
    node.set_defaults(handler=cmd_run_node)

    compile_ = sub.add_parser("compile", help="write a pipeline for Airflow or Kubeflow "
                                              "Pipelines (one run-node task per node)")
    compile_.add_argument("file", help="the pipeline file (create_pipeline(**params))")
    compile_.add_argument("--target", choices=TARGETS, required=True)
    compile_.add_argument("--out", required=True, metavar="DIR", help="output folder")
    compile_.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                          help="argument for create_pipeline, passed on to every task")
    compile_.add_argument("--gristmill", metavar="PATH",
                          help="airflow: the gristmill executable on the workers (default: "
                               "this environment's); kfp: the command inside the image")
    compile_.add_argument("--pipeline-file", metavar="PATH",
                          help="the pipeline file as tasks see it (default: FILE made "
                               "absolute; for an image, its path inside the image)")
    compile_.add_argument("--image", help="kfp: the container image with Gristmill installed")
    compile_.add_argument("--gpu-type", default="nvidia.com/gpu",
                          help="kfp: accelerator type for nodes with num_gpus")
    compile_.add_argument("--secret", metavar="NAME",
                          help="kfp: a Kubernetes secret whose keys become the tasks' "
                               "environment (e.g. GRISTMILL_METADATA_URL)")
    compile_.add_argument("--kfp-form", choices=("container", "local"), default="container",
                          help="kfp: container tasks (KFP, Vertex), or lightweight Python "
                               "tasks for KFP's local SubprocessRunner (no Docker)")
    compile_.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                          help="airflow: extra (non-secret) environment for every task")
    compile_.set_defaults(handler=cmd_compile)


def _location_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metadata-url", help="metadata database URL shared by every node "
                        "(empty or absent: $GRISTMILL_METADATA_URL, else the pipeline's)")
    parser.add_argument("--root", help="artifact root shared by every node (empty or absent: "
                        "$GRISTMILL_ROOT, else the pipeline's)")


def cmd_run_node(args) -> int:
    """``gristmill run-node``."""
    from gristmill.metadata.errors import ConfigError
    from gristmill.metadata.settings import redact_text
    from gristmill.orchestrator.cli_commands import load_pipeline
    from gristmill.orchestrator.run_node import run_node

    if not args.run_id:
        raise ConfigError("run-node: no run id given.",
                          fix="pass --run-id RUN (the same for every node of one run) or set "
                              "$GRISTMILL_RUN_ID")
    pipeline, params = load_pipeline(args.file, args.param)
    given = {"metadata_url": args.metadata_url or os.environ.get("GRISTMILL_METADATA_URL"),
             "root": args.root or os.environ.get("GRISTMILL_ROOT")}
    changes = {k: v for k, v in given.items() if v}
    if changes:
        pipeline = pipeline.with_options(**changes)
    result = run_node(pipeline, args.node_id, args.run_id, params=params,
                      enable_cache=False if args.no_cache else None,
                      scheduler_retries=args.scheduler_retries,
                      duplicate_wait_s=args.duplicate_wait)
    done = " (already done in this run)" if result.already_done else ""
    print(f"{result.state} {result.node_id} of run {result.run_id} in {result.seconds:.2f}s"
          f"{done}; run status {result.run_status}", file=sys.stderr)
    if result.error:
        print(f"  {redact_text(result.error)}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict()))
    return result.exit_code


def cmd_compile(args) -> int:
    """``gristmill compile``."""
    from gristmill.orchestrator.cli_commands import load_pipeline

    pipeline, _ = load_pipeline(args.file, args.param)
    pipeline_file = args.pipeline_file or os.path.abspath(args.file)
    if args.target == "airflow":
        from gristmill.orchestrator.compile.airflow import AirflowDagConfig, AirflowDagRunner

        config = AirflowDagConfig(env=dict(_pairs(args.env)), **(
            {"gristmill": args.gristmill} if args.gristmill else {}))
        path = AirflowDagRunner(config).run(pipeline, pipeline_file=pipeline_file,
                                            params=args.param, out_dir=args.out)
    else:
        from gristmill.orchestrator.compile.kfp import (
            KubeflowV2DagRunner,
            KubeflowV2DagRunnerConfig,
        )

        config = KubeflowV2DagRunnerConfig(
            image=args.image or KubeflowV2DagRunnerConfig.image, gpu_type=args.gpu_type,
            secret=args.secret, form=args.kfp_form,
            **({"gristmill": args.gristmill} if args.gristmill else {}))
        path = KubeflowV2DagRunner(config).run(pipeline, pipeline_file=pipeline_file,
                                               params=args.param, out_dir=args.out)
    print(path)
    return 0


def _pairs(items: list[str]) -> list[tuple[str, str]]:
    from gristmill.metadata.errors import ConfigError

    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--env {item!r}: expected KEY=VALUE.", fix="--env GRISTMILL_HOME=/x")
        pairs.append((key, value))
    return pairs
