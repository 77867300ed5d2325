"""Pure text handling of migration files: split into statements and fill in placeholders."""

from __future__ import annotations

import re
from collections.abc import Mapping

# `{name}` where name is an identifier: the runner's placeholders. ClickHouse macros such as {shard}
# only appear in generated cluster DDL, after rendering, so they never meet this pattern's check.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_COMMENT_LINE = re.compile(r"^\s*--[^\n]*$", re.MULTILINE)


def split_statements(text: str) -> list[str]:
    """Split SQL text on `;` outside quotes and comments; drop empty and comment-only pieces.

    Comments inside a statement are kept (the `-- shard by:` hint lives in one).

    Raises:
        ValueError: a quote or block comment is not closed.
    """
    statements: list[str] = []
    start, index, length = 0, 0, len(text)
    while index < length:
        char = text[index]
        if char in "'\"`":
            index = _end_of_quoted(text, index)
        elif text.startswith("--", index):
            newline = text.find("\n", index)
            index = length if newline < 0 else newline
        elif text.startswith("/*", index):
            close = text.find("*/", index + 2)
            if close < 0:
                raise ValueError(f"unclosed /* comment at character {index}")
            index = close + 1
        elif char == ";":
            statements.append(text[start:index])
            start = index + 1
        index += 1
    statements.append(text[start:])
    return [piece.strip() for piece in statements if not is_blank(piece)]


def _end_of_quoted(text: str, open_index: int) -> int:
    """The index of the quote closing the one at `open_index` (backslash and doubled quotes escape)."""
    quote, index = text[open_index], open_index + 1
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == quote:
            if text.startswith(quote * 2, index):
                index += 2
                continue
            return index
        index += 1
    raise ValueError(f"unclosed {quote} quote at character {open_index}")


def is_blank(sql: str) -> bool:
    """True when `sql` holds nothing but whitespace and `--` comments."""
    return not _COMMENT_LINE.sub("", sql).strip()


def placeholders(text: str) -> set[str]:
    """The `{name}` placeholders in `text`."""
    return set(_PLACEHOLDER.findall(text))


def render(text: str, values: Mapping[str, object]) -> str:
    """Replace each `{name}` with `values[name]`.

    Raises:
        ValueError: naming the placeholders that have no value.
    """
    missing = placeholders(text) - set(values)
    if missing:
        raise ValueError(f"no value for placeholder(s) {', '.join(sorted(missing))}")
    return _PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), text)
