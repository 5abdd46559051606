"""Progress display and per-epoch metric lines for the training loop.

A bar is drawn only on a terminal (and only when ``tqdm`` is importable); every epoch's
metrics are always logged.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("gristmill.engine.training")


class EpochProgress:
    """A per-epoch step bar plus one log line of metrics per epoch.

    Args:
        epochs: Total epochs.
        steps_per_epoch: Steps in one epoch.
        enabled: Draw a bar (still only on a TTY).
    """

    def __init__(self, epochs: int, steps_per_epoch: int, enabled: bool = True):
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.enabled = enabled and sys.stderr.isatty()
        self._bar: Any = None

    @contextlib.contextmanager
    def epoch(self, epoch: int) -> Iterator[None]:
        """Open the bar for one epoch."""
        if self.enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                self.enabled = False
            else:
                self._bar = tqdm(total=self.steps_per_epoch, leave=False,
                                 desc=f"epoch {epoch}/{self.epochs}", unit="step")
        try:
            yield
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    def advance(self) -> None:
        """One step done."""
        if self._bar is not None:
            self._bar.update(1)

    def report(self, metrics: dict[str, float]) -> None:
        """Log one epoch's metrics."""
        text = " ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k != "epoch")
        log.info("epoch %d/%d %s", int(metrics.get("epoch", 0)), self.epochs, text)
