"""The real-data gauntlet of issue 18: ``python -m tests.gauntlet`` (docs/gauntlet.md)."""
