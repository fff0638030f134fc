"""Test messages built in code (the tests never read ../shared)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from spoofguard.checks.content.extract import extract
from spoofguard.message import Message

THREAT = (
    "We are in possession of all your information. You are currently registered as a "
    "Democrat. You will vote for Trump on Election Day or we will come after you. Change "
    "your party affiliation to Republican to let us know you received our message and "
    "will comply."
)
BENIGN = (
    "Hi Alice,\n\nthe minutes of Tuesday's meeting are attached below. Lunch is on "
    "Thursday at noon.\n\nBest,\nBob\n"
)


def make_message(
    body: str = BENIGN,
    *,
    subject: str = "Meeting minutes",
    sender: str = "Bob Example <bob@sender.test>",
    to: str = "alice@example.test",
    extra_headers: dict[str, str] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 11, 2, 9, 30, tzinfo=UTC))
    msg["Message-ID"] = make_msgid(domain="sender.test")
    for name, value in (extra_headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg


def padded(message: EmailMessage, size: int = 2 * 1024 * 1024) -> EmailMessage:
    """``message`` with a ``size``-byte binary attachment put in front of its text, the
    scan-cap attack: a JPEG header and random bytes, as an image an attacker would send."""
    import os

    message.make_mixed()
    attachment = EmailMessage()
    attachment.set_content(b"\xff\xd8\xff\xe0" + os.urandom(size - 4), maintype="image", subtype="jpeg",
                           filename="photo.jpg")
    message.get_payload().insert(0, attachment)  # type: ignore[union-attr]
    return message


def message_text(message: Message) -> str:
    """Subject, display names and every text part, in reading order, as the content check
    reads them (without its part separators)."""
    extracted = extract(message)
    return "\n".join((extracted.subject, extracted.names, extracted.body))
