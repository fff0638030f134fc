"""The readable text of a message, normalised for matching.

Rules match what a reader sees: the Subject, display names, text parts and HTML rendered
to text. Decoding never raises: unknown charsets and broken transfer encodings degrade to
replacement characters.
"""

from __future__ import annotations

import re
import unicodedata
from email.message import Message as EmailPart
from html.parser import HTMLParser

from .message import Message

_INVISIBLE = dict.fromkeys(
    map(ord, "\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"
        "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"),
    None,
)
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, invisible and bidi controls removed, case folded, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold()
    return _SPACE.sub(" ", text).strip()


def message_text(message: Message) -> str:
    """Subject, From display name and every text part, in reading order."""
    pieces = [message.header("Subject") or "", message.header("From") or ""]
    try:
        parts = list(message.parsed.walk())
    except Exception:  # a pathological tree; the headers are still worth scanning
        parts = []
    for part in parts:
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        if content_type == "text/plain":
            pieces.append(part_text(part))
        elif content_type == "text/html":
            pieces.append(html_to_text(part_text(part)))
    return "\n".join(pieces)


def part_text(part: EmailPart) -> str:
    """Decode a leaf part's payload with its declared charset, replacing what will not decode."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except (LookupError, UnicodeError):  # unknown charset, or a codec such as idna that raises
        return payload.decode("utf-8", "replace")


class _TextExtractor(HTMLParser):
    _SKIP = {"script", "style", "head", "title"}
    _BREAKS = {"br", "p", "div", "li", "tr", "td", "h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BREAKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.chunks.append(data)


def html_to_text(html: str) -> str:
    """Render HTML to its text without executing or fetching anything."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient, but hostile input must not escape
        return re.sub(r"<[^>]*>", " ", html)
    return "".join(parser.chunks)
