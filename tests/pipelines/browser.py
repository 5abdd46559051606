"""Helpers of the browser tests: a ``gristmill ui`` server and headless Chromium.

Chromium is Debian's ``chromium`` (``.ci/run`` installs it); each call uses a fresh profile,
so every page is opened as by a browser that never saw MLflow (no stored preference).
"""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--no-first-run"]
HEALTH_TIMEOUT_S = 120  # mlflow server takes 20-40 s to come up on a 2-core machine


def chromium() -> str | None:
    """The Chromium binary, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 10) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


@contextmanager
def gristmill_ui(env: dict[str, str], home: Path) -> Iterator[str]:
    """Run ``gristmill ui`` on a free port; yields its base URL once ``/health`` answers."""
    port = free_port()
    log_path = home / "ui.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gristmill.orchestrator.cli", "ui", "--port", str(port)],
            env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(base, server, log_path)
            yield base
        finally:
            _stop(server)


def _wait_healthy(base: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"gristmill ui exited with {server.returncode}:\n"
                        f"{log_path.read_text()[-3000:]}")
        try:
            if get(f"{base}/health", timeout=2).strip() == b"OK":
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"gristmill ui not healthy after {HEALTH_TIMEOUT_S} s:\n"
                f"{log_path.read_text()[-3000:]}")


def _stop(server: subprocess.Popen) -> None:
    """End the server's process group (mlflow server forks workers), politely first."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=5)


def rendered_dom(binary: str, url: str, budget_ms: int, profile: Path) -> str:
    """The DOM after the page ran its scripts for ``budget_ms`` of virtual time, opened in
    a fresh profile."""
    shutil.rmtree(profile, ignore_errors=True)
    done = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
         f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
        capture_output=True, text=True, timeout=120)
    return done.stdout


def text_of(dom: str) -> str:
    """The visible text of a dumped DOM, whitespace collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def screenshot(binary: str, url: str, path: Path, profile: Path,
               size: str = "1900,1000") -> Path:
    """A PNG of the page as a fresh browser shows it."""
    shutil.rmtree(profile, ignore_errors=True)
    subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                    "--virtual-time-budget=12000", f"--window-size={size}",
                    "--hide-scrollbars", f"--screenshot={path}", url],
                   capture_output=True, timeout=120, check=False)
    assert path.exists() and path.stat().st_size > 10_000, "chromium wrote no screenshot"
    return path


def shrink_png(source: Path, target: Path, colours: int = 128) -> None:
    """Write ``source`` to ``target`` as a palette PNG (a few times smaller), for docs/."""
    from PIL import Image

    with Image.open(source) as image:
        image.convert("RGB").quantize(colours).save(target, optimize=True)
