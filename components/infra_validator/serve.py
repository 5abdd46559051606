"""A minimal model server for a serving bundle, started by the InfraValidator.

Run as ``python -m gristmill.components.infra_validator.serve <bundle_uri> --port 0 --port-file P``.
It loads the bundle first and only then binds ``127.0.0.1``, so "answers ``GET /ping``" means
"loaded". Endpoints (MLflow's scoring protocol where it has one):

* ``GET /ping`` -> 200 ``{"status": "ok", "load_seconds": ...}``
* ``POST /invocations`` with ``{"dataframe_records": [{...}, ...]}`` (or a bare list of
  records), or ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`` ->
  ``{"predictions": [{"prediction": ..., "probabilities": [...]}, ...],
  "warnings": [...], "unknown_keys": {key: records}}``

Requests follow :mod:`gristmill.engine.serving_input`: a ``dataframe_split`` is a batch, so a
raw column the model reads must be among its columns; in records, a key left out is the key
sent as null; a key the model does not read is ignored and reported in ``warnings`` and
``unknown_keys`` (counted per request, and in total under ``GET /ping``'s
``unknown_keys_total``); an empty list, an empty record or a value of the wrong type gets
400 with ``{"error": ...}`` naming it. A failure inside the model gets 500.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("gristmill.infra_serve")
MAX_BODY_BYTES = 64 * 1024 * 1024


def parse_request(body: bytes) -> tuple[str, Any]:
    """``("records", [dict, ...])`` or ``("table", pa.Table)`` from an MLflow-style body.

    ``dataframe_records`` (or a bare list) are records: a key left out is null.
    ``dataframe_split`` (``{"columns": [...], "data": [[...], ...]}``) is a batch: a column
    the model reads must be among ``columns``.

    Raises:
        ValueError: The body is not JSON, or not one of those shapes.
    """
    payload = json.loads(body)
    if isinstance(payload, dict):
        if "dataframe_split" in payload:
            return "table", _split_table(payload["dataframe_split"])
        if "dataframe_records" not in payload:
            raise ValueError(f"expected key 'dataframe_records' or 'dataframe_split', got keys "
                             f"{sorted(payload)}")
        payload = payload["dataframe_records"]
    if not isinstance(payload, list) or not all(isinstance(r, dict) for r in payload):
        raise ValueError("expected a list of records (JSON objects)")
    return "records", payload


def _split_table(split: Any):
    import pyarrow as pa

    if not isinstance(split, dict) or not isinstance(split.get("columns"), list) \
            or not isinstance(split.get("data"), list):
        raise ValueError("dataframe_split needs 'columns' (a list) and 'data' (a list of rows)")
    columns, rows = split["columns"], split["data"]
    if not rows:
        raise ValueError("dataframe_split has no rows; send at least one")
    if any(not isinstance(r, list) or len(r) != len(columns) for r in rows):
        raise ValueError(f"every dataframe_split row must hold {len(columns)} values")
    arrays = {}
    for i, name in enumerate(columns):
        try:
            arrays[name] = pa.array([r[i] for r in rows])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise ValueError(f"column {name!r} mixes JSON types: {e}") from e
    return pa.table(arrays)


class UnknownKeyCounter:
    """Totals of unknown record keys over the server's life (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.totals: dict[str, int] = {}

    def add(self, counts: dict[str, int]) -> None:
        """Add one request's ``{key: records}``."""
        with self._lock:
            for key, n in counts.items():
                self.totals[key] = self.totals.get(key, 0) + n

    def snapshot(self) -> dict[str, int]:
        """A copy of the totals."""
        with self._lock:
            return dict(self.totals)


def answer(bundle: Any, kind: str, request: Any, counter: UnknownKeyCounter
           ) -> tuple[int, dict[str, Any]]:
    """``(HTTP status, body)`` for one parsed request (see :func:`parse_request`)."""
    from gristmill.engine.errors import DataError

    try:
        if kind == "records":
            predictions, report = bundle.predict_records_with_report(request)
        else:
            table, report = bundle.predict_with_report(request)
            predictions = table.to_pylist()
    except DataError as e:  # the request's fault: say what and how to fix it
        return 400, {"error": f"bad request: {e}"}
    except Exception as e:  # report the model's failure to the caller, keep serving
        return 500, {"error": f"{type(e).__name__}: {e}"}
    if report.unknown_keys:
        counter.add(report.unknown_keys)
        log.warning("unknown keys ignored: %s", report.unknown_keys)
    return 200, {"predictions": predictions, "warnings": report.warnings(),
                 "unknown_keys": report.unknown_keys}


def make_handler(bundle: Any, load_seconds: float) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler class answering for ``bundle``."""
    counter = UnknownKeyCounter()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path in ("/ping", "/health"):
                self._reply(200, {"status": "ok", "load_seconds": load_seconds,
                                  "task": bundle.task,
                                  "unknown_keys_total": counter.snapshot()})
            else:
                self._reply(404, {"error": f"no route {self.path}; try /ping or /invocations"})

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/invocations":
                self._reply(404, {"error": f"no route {self.path}; POST /invocations"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._reply(413, {"error": f"body of {length} bytes exceeds {MAX_BODY_BYTES}"})
                return
            try:
                kind, request = parse_request(self.rfile.read(length))
            except ValueError as e:
                self._reply(400, {"error": f"bad request: {e}"})
                return
            self._reply(*answer(bundle, kind, request, counter))

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.info("%s - %s", self.address_string(), format % args)

    return Handler


def serve(bundle_uri: str, host: str = "127.0.0.1", port: int = 0,
          port_file: str | None = None) -> None:
    """Load the bundle, bind, announce the port, and serve until terminated."""
    from gristmill.engine.serving import load_bundle

    start = time.monotonic()
    try:
        bundle = load_bundle(bundle_uri, backend="auto")  # ONNX when exported: no torch import
    except Exception as e:
        log.exception("loading failed")
        # The last line of the log is what the InfraValidator quotes as the reason.
        raise SystemExit(f"LOAD FAILED: {bundle_uri}: {type(e).__name__}: {e}") from e
    load_seconds = time.monotonic() - start
    server = ThreadingHTTPServer((host, port), make_handler(bundle, load_seconds))
    actual = server.server_address[1]
    if port_file:
        # Write-then-rename: the validator never reads a half-written port number.
        with open(f"{port_file}.tmp", "w") as f:
            f.write(str(actual))
        os.replace(f"{port_file}.tmp", port_file)
    log.info("serving %s on http://%s:%d (loaded in %.2fs)", bundle_uri, host, actual,
             load_seconds)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle_uri")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the bound port here once ready")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    serve(args.bundle_uri, args.host, args.port, args.port_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
