"""The readable text of a message, normalised for matching.

Rules match what a reader sees: the Subject, display names, text parts and HTML rendered
to text. The work is done in ``spoofguard.content``; these wrappers keep the older entry
points. Decoding never raises: unknown charsets and broken transfer encodings degrade to
replacement characters.
"""

from __future__ import annotations

from .content.extract import extract, html_to_text
from .content.normalize import normalize
from .message import Message

__all__ = ["html_to_text", "message_text", "normalize"]


def message_text(message: Message) -> str:
    """Subject, display names and every text part, in reading order."""
    extracted = extract(message)
    return "\n".join((extracted.subject, extracted.names, extracted.body))
