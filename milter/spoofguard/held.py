"""What the milter held, by queue id: the Subject, score and report header lines the held
message carries, kept in the state directory.

The digest runs as the service user (``spoofguard-digest.service``), which can list
Postfix's hold queue (``postqueue -j``) but not read the messages in it (``hold/`` is
postfix-only, and ``postcat`` needs root). Without this record it could only say
``score ?``; with it, each held message keeps its score and reason.
"""

from __future__ import annotations

import logging

from .edits import HeaderEdit
from .lookups.store import GuardedStore
from .message import Message

log = logging.getLogger(__name__)

KEEP_SECONDS = 60 * 86400  # longer than anyone leaves mail on hold
MAX_RECORDS = 100_000
SHOWN = ("Subject", "X-Spoofguard-Score", "X-Spoofguard-Report")


class HeldRecords:
    def __init__(self, store: GuardedStore | None) -> None:
        self.store = store

    def record(self, queue_id: str, head: bytes) -> None:
        if self.store is not None and queue_id:
            self.store.put(f"held:{queue_id}", head, KEEP_SECONDS)

    def head(self, queue_id: str) -> bytes | None:
        return self.store.get(f"held:{queue_id}") if self.store is not None else None


def held_head(message: Message, changes: tuple[HeaderEdit, ...]) -> bytes:
    """The header lines the held message carries, after the milter's own changes."""
    values = {name: message.header(name) or "" for name in ("Subject",)}
    for change in changes:
        for name in SHOWN:
            if change.name.lower() == name.lower():
                values[name] = change.value
    lines = [f"{name}: {value}\r\n" for name, value in values.items() if value]
    return "".join(lines).encode("utf-8", "surrogateescape")
