"""Header changes as data: what the MTA should add, replace or delete.

Checks record them (the authentication check adds its Authentication-Results and removes
forged ones), the action planner adds its own, and only the pymilter adapter applies them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AddHeader:
    """Append a field, or insert it at ``index`` (0: above every other field)."""

    name: str
    value: str
    index: int | None = None


@dataclass(frozen=True, slots=True)
class ChangeHeader:
    """Replace the ``index``-th (1-based) field called ``name``; an empty value deletes it."""

    name: str
    index: int
    value: str


HeaderEdit = AddHeader | ChangeHeader


def deletions(occurrences: list[tuple[str, int]]) -> list[ChangeHeader]:
    """Delete fields given as (name, 1-based index) in message order.

    Applied last occurrence first, so the indexes of the ones still to delete stay valid.
    """
    return [ChangeHeader(name, index, "") for name, index in reversed(occurrences)]
