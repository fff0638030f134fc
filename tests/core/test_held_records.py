"""The digest runs without root, so it cannot read Postfix's held messages: it takes their
score and reason from what the milter recorded when it held them."""

from __future__ import annotations

from pathlib import Path

from spoofguard.edits import AddHeader, ChangeHeader
from spoofguard.held import HeldRecords, held_head
from spoofguard.lookups.store import CacheSection, open_store
from spoofguard.message import Envelope, Message
from spoofguard.quarantine import Held


def records(tmp_path: Path) -> HeldRecords:
    return HeldRecords(open_store(CacheSection(backend="sqlite"), path=tmp_path / "held.sqlite", role="held"))


def test_a_held_message_the_digest_cannot_read_keeps_its_score_and_reason(tmp_path: Path) -> None:
    message = Message.from_bytes(b"Subject: Your vote\r\nX-Spoofguard-Score: 99 (forged)\r\n\r\nbody\r\n",
                                 Envelope(client_ip="203.0.113.9"))
    changes = (ChangeHeader("X-Spoofguard-Score", 1, ""),  # the forged one, removed
               AddHeader("X-Spoofguard-Score", "16.8 (tag at 4.0, quarantine at 8.0)"),
               AddHeader("X-Spoofguard-Report", "action=quarantine; content.harm=+3.0 a threat"),
               ChangeHeader("Subject", 1, "[SUSPICIOUS] Your vote"))
    store = records(tmp_path)
    store.record("4XyZ1abc", held_head(message, changes))
    unread = Held("4XyZ1abc", 0.0, "mallory@example.test", ("alice@example.test",), 300)  # postcat refused
    filled = records(tmp_path).complete(unread)  # another process: the digest
    assert filled.score == "16.8" and filled.subject == "[SUSPICIOUS] Your vote"
    assert filled.reason.startswith("action=quarantine") and "content.harm" in filled.signals
    assert store.complete(Held("other", 0.0, "", (), 0)).score == ""  # nothing recorded: as it was
