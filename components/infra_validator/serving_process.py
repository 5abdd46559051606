"""Run a model server process and talk to it over HTTP (for the InfraValidator).

The server is :mod:`gristmill.components.infra_validator.serve` in a child process bound to
loopback.
It announces its port through a file once the bundle is loaded; :class:`LoaderProcess` polls
for that file and ``/ping`` within a loading budget and always stops the child by its PID.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

POLL_SECONDS = 0.1
STOP_GRACE_SECONDS = 5.0
REQUEST_TIMEOUT_SECONDS = 60.0


class InfraFailure(Exception):
    """The model failed to load, answer, or answer correctly; the message says how."""


class LoaderProcess:
    """One model server child process.

    Args:
        bundle_uri: The serving bundle to load.
        workdir: Directory for the port file and the server's log (created).
        host: Loopback address to bind.
    """

    def __init__(self, bundle_uri: str, workdir: str, host: str = "127.0.0.1"):
        self.bundle_uri = bundle_uri
        self.workdir = workdir
        self.host = host
        self.port_file = os.path.join(workdir, "port")
        self.log_path = os.path.join(workdir, "server.log")
        self.port: int | None = None
        self._process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id once started."""
        return self._process.pid if self._process else None

    def start(self) -> None:
        """Launch the server process (returns at once; see :meth:`wait_ready`)."""
        os.makedirs(self.workdir, exist_ok=True)
        command = [sys.executable, "-m", "gristmill.components.infra_validator.serve",
                   self.bundle_uri, "--host", self.host, "--port", "0",
                   "--port-file", self.port_file]
        with open(self.log_path, "wb") as log_file:
            self._process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL)

    def wait_ready(self, budget_seconds: float) -> float:
        """Wait until the server answers ``/ping``; return the seconds it took.

        Raises:
            InfraFailure: The process exited (failed to load) or the budget ran out.
        """
        start = time.monotonic()
        while time.monotonic() - start < budget_seconds:
            code = self._process.poll()
            if code is not None:
                raise InfraFailure(f"server exited with code {code} before it was ready "
                                   f"(the bundle failed to load): {self.log_tail()}")
            if self.port is None and os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    self.port = int(f.read().strip())
            if self.port is not None and self._ping():
                return time.monotonic() - start
            time.sleep(POLL_SECONDS)
        raise InfraFailure(f"server was not ready within max_loading_time_seconds="
                           f"{budget_seconds:g}: {self.log_tail()}")

    def _ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return f"http://{self.host}:{self.port}"

    def invoke(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """POST records to ``/invocations`` and return the decoded answer.

        Raises:
            InfraFailure: Non-200 status, or a body that is not JSON.
        """
        body = json.dumps({"dataframe_records": list(records)}, default=str).encode()
        request = urllib.request.Request(f"{self.url}/invocations", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
                text = response.read()
        except urllib.error.HTTPError as e:
            raise InfraFailure(f"/invocations answered HTTP {e.code}: "
                               f"{e.read().decode(errors='replace')[:500]}") from e
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            raise InfraFailure(f"/invocations failed: {e}") from e
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise InfraFailure(f"/invocations answered non-JSON: {text[:200]!r}") from e

    def stop(self) -> int | None:
        """Terminate the child by PID, kill it after a grace period; return its exit code."""
        if self._process is None:
            return None
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        return self._process.returncode

    def log_tail(self, lines: int = 1, chars: int = 600) -> str:
        """The last lines of the server's log, for error messages."""
        try:
            with open(self.log_path, errors="replace") as f:
                tail = [line.strip() for line in f.read().splitlines() if line.strip()]
        except OSError:
            return "(no log)"
        return " | ".join(tail[-lines:])[-chars:] or "(empty log)"


def check_predictions(answer: dict[str, Any], expected: int, task: str,
                      classes: Sequence[Any]) -> None:
    """Check a server's answer: one well-formed prediction per record.

    Raises:
        InfraFailure: naming the first problem found.
    """
    predictions = answer.get("predictions")
    if not isinstance(predictions, list):
        raise InfraFailure(f"answer has no 'predictions' list: {str(answer)[:200]}")
    if len(predictions) != expected:
        raise InfraFailure(f"expected {expected} predictions, got {len(predictions)}")
    known = {str(c) for c in classes}
    for i, item in enumerate(predictions):
        value = item.get("prediction") if isinstance(item, dict) else None
        if task == "classification":
            if str(value) not in known:
                raise InfraFailure(f"prediction {i} is {value!r}, not one of the model's "
                                   f"classes {sorted(known)}")
            probs = item.get("probabilities") or []
            if len(probs) != len(classes) or not math.isclose(sum(probs), 1.0, abs_tol=1e-3):
                raise InfraFailure(f"prediction {i}: probabilities {probs} are not a "
                                   f"distribution over {len(classes)} classes")
        elif not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InfraFailure(f"prediction {i} is {value!r}, expected a finite number")
