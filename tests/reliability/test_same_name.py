"""Same-name pipelines: a quick subset of the ``same_name`` harness (issue 14 item 6)."""

from __future__ import annotations

import pytest

from . import same_name

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("second,allow", [("another file", False), ("moved file", False),
                                          ("another id", False), ("another file", True),
                                          ("same file", False), ("same id", False)])
def test_each_kind_of_second_pipeline(tmp_path, second, allow):
    case = {"name": "churn", "second": second, "allow": allow, "values": (1, 2)}
    assert same_name.check(case, tmp_path) is None


def test_generated_scenarios(tmp_path):
    result = same_name.run(trials=6, work=tmp_path)
    assert result["failures"] == 0, result["details"]
    assert result["trials"] == 6
