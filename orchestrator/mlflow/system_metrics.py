"""System metrics (CPU, memory, GPU when present) of the Trainer and Tuner, for MLflow.

A daemon thread of the pipeline process samples the machine every ``interval`` seconds
while the node runs (once at its start and once at its end, so a short node still has two
points) and reports MLflow's ``system/...`` metric names, which the run page shows in its
"System metrics" tab. It reads ``/proc`` (Linux) and, only when the process already
imported torch and sees a GPU, ``torch.cuda``: no new dependency and about 0.1 ms a sample.
Elsewhere (no ``/proc``) it reports nothing and says so once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

#: Component types whose MLflow runs get system metrics.
SAMPLED_TYPES = frozenset({"Trainer", "Tuner"})
INTERVAL_S = 2.0
_PROC = Path("/proc")


class SystemSampler:
    """Samples until :meth:`stop`; each sample goes to ``report(metrics, step)``."""

    def __init__(self, report: Callable[[dict[str, float], int], None],
                 interval: float = INTERVAL_S):
        self.report = report
        self.interval = interval
        self.step = 0
        self._cpu = _cpu_ticks()
        self._stop = threading.Event()
        if self._cpu is None:
            log.info("system metrics: no /proc/stat on this platform; none recorded")
            return
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="gristmill-system-metrics",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Take the last sample and end the thread."""
        if self._cpu is None or self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        try:
            metrics = self._measure()
        except Exception as e:  # sampling must never disturb the node
            log.debug("system metrics sample failed: %s", e)
            return
        self.report(metrics, self.step)
        self.step += 1

    def _measure(self) -> dict[str, float]:
        now = _cpu_ticks()
        busy = now[0] - self._cpu[0]
        total = now[1] - self._cpu[1]
        self._cpu = now
        metrics = {"system/cpu_utilization_percentage": 100.0 * busy / total if total else 0.0}
        metrics.update(_memory())
        metrics.update(_gpu())
        return metrics


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) CPU clock ticks of the whole machine since boot."""
    try:
        fields = [int(x) for x in (_PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _memory() -> dict[str, float]:
    info = {}
    for line in (_PROC / "meminfo").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("MemTotal", "MemAvailable"):
            info[key] = int(value.split()[0]) / 1024.0  # kB -> MB
    used = info["MemTotal"] - info["MemAvailable"]
    rss = _process_rss_mb()
    return {"system/system_memory_usage_megabytes": used,
            "system/system_memory_usage_percentage": 100.0 * used / info["MemTotal"],
            **({"system/process_rss_megabytes": rss} if rss is not None else {})}


def _process_rss_mb() -> float | None:
    try:
        pages = int((_PROC / "self" / "statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _gpu() -> dict[str, float]:
    """GPU memory (and utilisation when NVML answers), only where torch already runs CUDA."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return {}
    metrics = {}
    for i in range(torch.cuda.device_count()):
        metrics[f"system/gpu_{i}_memory_usage_megabytes"] = \
            torch.cuda.memory_reserved(i) / 2**20
        with contextlib.suppress(Exception):  # no NVML bindings: memory only
            metrics[f"system/gpu_{i}_utilization_percentage"] = float(torch.cuda.utilization(i))
    return metrics

