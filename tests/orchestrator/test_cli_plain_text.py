"""Data text in CLI messages prints as it is: no rich markup, no emoji codes (issue 14
item 18: a bad row 'bob:x:101' printed with ':x:' as an emoji)."""

from __future__ import annotations

import pytest
from rich.markup import escape


@pytest.mark.unit
@pytest.mark.parametrize("console_name", ["err", "out"])
def test_data_text_is_printed_verbatim(console_name):
    from gristmill.orchestrator import cli_commands

    console = getattr(cli_commands, console_name)
    text = "bad row [bob:x:101:101::/home/bob:/bin/bash] :smile: [bold]"
    with console.capture() as captured:
        console.print("    " + escape(text))
    assert captured.get().strip() == text
