"""Data text in CLI messages prints as it is: no rich markup, no emoji codes (issue 14
item 18: a bad row 'bob:x:101' printed with ':x:' as an emoji)."""

from __future__ import annotations

import io

import pytest
from rich.markup import escape


@pytest.mark.unit
@pytest.mark.parametrize("console_name", ["err", "out"])
def test_data_text_is_printed_verbatim(monkeypatch, console_name):
    from gristmill.orchestrator import cli_commands

    console = getattr(cli_commands, console_name)
    buffer = io.StringIO()
    monkeypatch.setattr(console, "file", buffer)
    text = "bad row [bob:x:101:101::/home/bob:/bin/bash] :smile: [bold]"
    console.print("    " + escape(text))
    assert buffer.getvalue().strip() == text
