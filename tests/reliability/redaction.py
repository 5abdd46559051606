"""Redaction checks: database URLs with passwords never reach output, logs or MLflow."""

from __future__ import annotations

import contextlib
import io
import logging
import os
from pathlib import Path

from .common import HarnessResult

REDACTION_URLS = [
    "postgresql://alice:Pw-{s}@127.0.0.1:1/db",
    "postgresql+psycopg://alice:p%40ss{s}@127.0.0.1:1/db?sslmode=disable",
    "postgres://bob:{s}@localhost:1/x",
    "mysql://u:{s}:colon@127.0.0.1:1/x",
]


def check_redaction(result: HarnessResult, tmp: Path) -> None:
    """Passwords never reach text, store errors, CLI output or logs."""
    from gristmill.metadata.settings import redact_text, redact_url

    for index, template in enumerate(REDACTION_URLS):
        secret = f"Zq{index}x9Secret"
        url = template.format(s=secret)
        for how, text in (("redact_url", redact_url(url)),
                          ("redact_text", redact_text(f"connect {url} failed"))):
            result.check(secret not in text, f"{how}({url!r}) leaked the password: {text}")
        for argv in (["runs", "--db", url], ["db", "current", "--url", url],
                     ["artifacts", "--db", url]):
            rc, output = cli_in_process(argv, tmp)
            result.check(secret not in output and rc == 2 and "Traceback" not in output,
                         f"gristmill {' '.join(argv[:2])} with {url!r}: rc {rc}, "
                         f"output {output[-300:]!r}")
    _check_store_error(result)


def _check_store_error(result: HarnessResult) -> None:
    from gristmill.metadata.errors import StoreError
    from gristmill.metadata.store import open_store

    secret = "Hunter2Secret"
    try:
        with open_store(f"postgresql://carol:{secret}@127.0.0.1:1/db") as store:
            store.list_contexts("pipeline")
        message = "opened"
    except StoreError as e:
        message = str(e)
    except Exception as e:
        message = f"not a StoreError: {type(e).__name__}: {e}"
    result.check(secret not in message and "not a StoreError" not in message,
                 f"open_store error: {message}")


def cli_in_process(argv: list[str], home: Path, env: dict[str, str] | None = None
                   ) -> tuple[int, str]:
    """Run ``gristmill argv`` in this process; exit code and all it printed or logged."""
    from gristmill.orchestrator import cli

    out, err, logs = io.StringIO(), io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(logs)  # the CLI adds its redacting filter to it
    root = logging.getLogger()
    root.addHandler(handler)
    changes = {"GRISTMILL_HOME": str(home), **(env or {})}
    saved = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main(argv)
            except SystemExit as e:  # argparse
                rc = e.code if isinstance(e.code, int) else 2
    finally:
        root.removeHandler(handler)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    log_files = "".join(p.read_text(errors="replace") for p in (home / "logs").glob("*.log")) \
        if (home / "logs").is_dir() else ""
    return rc, out.getvalue() + err.getvalue() + logs.getvalue() + log_files




_URL_PIPELINE = """
from gristmill.components import OutputArtifact, Parameter, component
from gristmill.metadata.standard_artifacts import Examples
from gristmill.orchestrator import Pipeline


@component
def Ingest(examples: OutputArtifact[Examples], source_url: Parameter[str] = "") -> dict:
    raise ValueError(f"cannot connect to {source_url}")


def create_pipeline(root=None, metadata_url=None, tracking_uri=None, source_url=""):
    return Pipeline("secrets", [Ingest(source_url=source_url)], root=root,
                    metadata_url=metadata_url, tracking_uri=tracking_uri)
"""


def check_mlflow_params(result: HarnessResult, tmp: Path) -> None:
    """A run whose parameters and error hold a password: MLflow and the CLI must hide it."""
    secret = "Tr0ub4dorSecret"
    url = f"postgresql://reader:{secret}@db.invalid:5432/sales"
    folder = tmp / "mlflow-redaction"
    folder.mkdir(parents=True)
    (folder / "pipeline.py").write_text(_URL_PIPELINE)
    tracking = f"sqlite:///{folder / 'mlflow.db'}"
    rc, output = cli_in_process(
        ["run", str(folder / "pipeline.py"), f"--param=root={folder / 'root'}",
         f"--param=metadata_url={folder / 'metadata.db'}", f"--param=tracking_uri={tracking}",
         f"--param=source_url={url}"], folder, env={"GRISTMILL_MLFLOW_MIRROR": "sync"})
    result.check(rc == 1 and secret not in output,
                 f"CLI output of a failing run with a password parameter (rc {rc}): "
                 f"{output[-400:]}")
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking)
    experiment = client.get_experiment_by_name("secrets")
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    values = [v for r in runs for v in (*r.data.params.values(), *r.data.tags.values())]
    result.check(bool(runs) and values and not any(secret in str(v) for v in values),
                 f"MLflow runs {len(runs)}: params/tags leak the password: "
                 f"{[v for v in values if secret in str(v)][:3]}")


FORMS = ("userinfo-raw", "userinfo-quoted", "query", "libpq")


def url_for(form: str, scheme: str, password: str) -> str:
    """A database URL (or libpq string) of ``form`` that carries ``password``."""
    from urllib.parse import quote

    if form == "userinfo-raw":
        return f"{scheme}://alice:{password}@127.0.0.1:1/sales"
    if form == "userinfo-quoted":
        return f"{scheme}://alice:{quote(password, safe='')}@127.0.0.1:1/sales"
    if form == "query":
        return f"{scheme}://alice@127.0.0.1:1/sales?password={quote(password, safe='')}"
    return f"host=127.0.0.1 port=1 user=alice password={password} dbname=sales"


def url_trial(result: HarnessResult, home: Path, form: str, scheme: str, password: str,
              with_cli: bool) -> None:
    """One URL through every place that may show it: nothing may show the password."""
    from urllib.parse import quote

    from gristmill.metadata.settings import redact_text, redact_url

    url = url_for(form, scheme, password)
    secrets = {password, quote(password, safe="")}
    shown = {"redact_url": redact_url(url), "redact_text": redact_text(f"connect {url} failed")}
    if with_cli:
        before = set(os.listdir(home))
        rc, output = cli_in_process(["runs", "--db", url], home)
        shown["cli runs --db"] = output
        result.check(rc == 2 and "Traceback" not in output,
                     f"runs --db ({form}) rc {rc}: {redact_text(output[-200:])}", kind="cli")
        created = set(os.listdir(home)) - before - {"logs"}
        result.check(not created, f"runs --db ({form}) created files {sorted(created)}",
                     kind="files")
    for where, text in shown.items():
        leaked = [s for s in secrets if s in text]
        result.check(not leaked, f"{where} leaked a {form} password: {url!r} -> {text[-300:]!r}",
                     kind=form)


def check_run_json_and_journal(result: HarnessResult, tmp: Path) -> None:
    """``run --json`` with a component error quoting a URL, and the mirror journal of a run
    whose tracking URI holds a password: neither may show it."""
    secret = "Pa?ss#w0rdSecret"
    url = "postgresql://reader:Pa%3Fss%23w0rdSecret@db.invalid:5432/sales"
    raw = f"postgresql://reader:{secret}@db.invalid:5432/sales"
    folder = tmp / "json-redaction"
    folder.mkdir(parents=True)
    (folder / "pipeline.py").write_text(_URL_PIPELINE)
    rc, output = cli_in_process(
        ["run", str(folder / "pipeline.py"), "--json", f"--param=root={folder / 'root'}",
         f"--param=metadata_url={folder / 'metadata.db'}", "--param=tracking_uri=",
         f"--param=source_url={raw}"], folder)
    result.check(rc == 1 and "Pa?ss" not in output and "Pa%3Fss" not in output,
                 f"run --json with a password in a component error (rc {rc}): {output[-400:]}",
                 kind="run --json")
    rc, _ = cli_in_process(
        ["run", str(folder / "pipeline.py"), f"--param=root={folder / 'root2'}",
         f"--param=metadata_url={folder / 'metadata2.db'}", f"--param=tracking_uri={url}"],
        folder, env={"GRISTMILL_MLFLOW_MIRROR": "async"})
    journals = "".join(p.read_text(errors="replace")
                       for p in (folder / "mirror").glob("*") if p.is_file())
    result.check(bool(journals) and "w0rdSecret" not in journals,
                 f"mirror journal shows the tracking password: {journals[:300]}",
                 kind="journal")


def run(examples: int = 120, cli_every: int = 4) -> dict:
    """Hypothesis-generated passwords in every URL form, then the run/journal checks."""
    import tempfile

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    result = HarnessResult("redaction")
    with tempfile.TemporaryDirectory(prefix="gm-redaction-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        counter = iter(range(10**9))
        password = st.text(st.characters(min_codepoint=33, max_codepoint=126),
                           min_size=1, max_size=20).map(lambda s: "Zq8" + s)

        @settings(max_examples=examples, database=None, derandomize=True, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(form=st.sampled_from(FORMS), password=password,
               scheme=st.sampled_from(["postgresql", "postgres", "postgresql+psycopg"]))
        def trial(form, password, scheme):
            with_cli = next(counter) % cli_every == 0
            try:
                url_trial(result, home, form, scheme, password, with_cli)
            except Exception as e:
                result.check(False, f"{form}: harness error {type(e).__name__}", kind="error")

        trial()
        try:
            check_run_json_and_journal(result, Path(tmp))
        except Exception as e:
            result.check(False, f"run/journal: harness error {type(e).__name__}: {e}")
    return result.to_dict()
