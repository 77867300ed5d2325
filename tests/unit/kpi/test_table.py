"""The printed table's cells."""

from __future__ import annotations

from streams.kpi.table import format_cell


def test_cells() -> None:
    assert format_cell(None, "rate") == "-"
    assert format_cell(0.9975, "rate") == "99.8%"
    assert format_cell(12345.6, "yuan") == "12,345.60"
    assert format_cell("red", "card") == "[red]red[/red]"
    assert format_cell("", "card") == ""
    assert format_cell(None, "card") == ""
    assert format_cell("[x]", "text") == "\\[x]"
