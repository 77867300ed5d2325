"""Re-emitting an input's outputs when it is processed again after a restart. Pure.

A stage that keeps per-key state remembers, in that state, the outputs of each recent input that
changed it, keyed by the input's `topic:partition:offset`. After a crash the input may be read again
(its offset was not committed) while the state already holds its effect: the stage then sends the
remembered outputs again instead of applying the input twice. Inputs whose offsets are committed are
forgotten; at most `limit` are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def recall(recent: dict[str, Any], position: str) -> Any | None:
    """The encoded outputs remembered for the input at `position`, if any."""
    return recent.get(position)


def keep(
    recent: dict[str, Any],
    position: str,
    encoded: Any | None,
    limit: int,
    committed: Callable[[str], bool] = lambda _: False,
) -> None:
    """Remember an input's encoded outputs (None: nothing to remember); forget committed inputs and
    the oldest beyond `limit`."""
    for old in [old for old in recent if committed(old)]:
        del recent[old]
    if encoded is None:
        return
    recent[position] = encoded
    while len(recent) > limit:
        del recent[next(iter(recent))]
