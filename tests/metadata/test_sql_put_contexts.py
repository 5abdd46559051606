"""``put_contexts``: many contexts got or created in one transaction (issue 20)."""

from __future__ import annotations

import pytest

from gristmill.metadata.store import NODE

pytestmark = pytest.mark.integration


def test_put_contexts_creates_the_missing_and_returns_the_existing(store):
    existing = store.put_context(NODE, "p.a", {"kept": 1})
    got = store.put_contexts(NODE, ["p.a", "p.b", "p.c", "p.b"])
    assert set(got) == {"p.a", "p.b", "p.c"}
    assert got["p.a"].id == existing.id and got["p.a"].properties == {"kept": 1}
    assert len({c.id for c in got.values()}) == 3
    for name, context in got.items():  # the same rows put_context/get_context see
        assert store.get_context(NODE, name).id == context.id
    assert store.put_contexts(NODE, ["p.b", "p.c"]) == {"p.b": got["p.b"], "p.c": got["p.c"]}
    assert store.put_contexts(NODE, []) == {}
