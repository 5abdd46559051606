"""Tests of components/ mirror its packages (tests/components/<name>/); the shared helper
module ``bundles`` (real Examples artifacts and serving bundles) lives here, beside them."""

from __future__ import annotations

import sys
from pathlib import Path

HELPERS = str(Path(__file__).resolve().parent)
if HELPERS not in sys.path:
    sys.path.insert(0, HELPERS)
