"""What the milter held, by queue id: the Subject, score and report header lines the held
message carries, kept in the state directory.

The digest runs as the service user (``spoofguard-digest.service``), which can list
Postfix's hold queue (``postqueue -j``) but not read the messages in it (``hold/`` is
postfix-only, and ``postcat`` needs root). Without this record it could only say
``score ?``; with it, each held message keeps its score and reason.
"""

from __future__ import annotations

from .actions import REPORT_HEADER, SCORE_HEADER
from .edits import HeaderEdit
from .lookups.store import GuardedStore
from .message import Message
from .quarantine import Held, with_headers

KEEP_SECONDS = 60 * 86400  # longer than anyone leaves mail on hold
MAX_RECORDS = 100_000
_SHOWN = {name.lower(): name for name in ("Subject", SCORE_HEADER, REPORT_HEADER)}


class HeldRecords:
    def __init__(self, store: GuardedStore | None) -> None:
        self.store = store

    def record(self, queue_id: str, head: bytes) -> None:
        if self.store is not None and queue_id:
            self.store.put(f"held:{queue_id}", head, KEEP_SECONDS)

    def complete(self, held: Held) -> Held:
        """``held`` with the score and reason recorded when it was held, where the MTA's
        queue file could not be read (the digest runs without root)."""
        if held.score or self.store is None:
            return held
        head = self.store.get(f"held:{held.queue_id}")
        return with_headers(held, head) if head else held


def held_head(message: Message, changes: tuple[HeaderEdit, ...]) -> bytes:
    """The header lines the held message carries, after the milter's own changes."""
    values = {"Subject": message.header("Subject") or ""}
    for change in changes:
        name = _SHOWN.get(change.name.lower())
        if name is not None:
            values[name] = change.value
    return "".join(f"{name}: {value}\r\n" for name, value in values.items() if value).encode("utf-8", "surrogateescape")
