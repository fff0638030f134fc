"""The text of a message as a reader sees it, and the text hidden from the reader.

``extract`` walks the MIME tree (nested messages included), decodes transfer encodings
and charsets, renders HTML to text with the standard library parser (nothing is run or
fetched) and separates what a reader sees from HTML text styled to be invisible. It never
raises: broken encodings, unknown charsets and hostile structures degrade to replacement
characters and a note.

Decisions (HTML rendering: see ``html``):

* Subjects of nested messages are not the message's Subject: they are read as body text,
  a line before the nested message's own text.
"""

from __future__ import annotations

import codecs
import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message as EmailPart
from email.utils import getaddresses

from ..message import Message, decode_header_value
from .html import html_to_text, render_html

__all__ = ["MAX_DEPTH", "MAX_PARTS", "ExtractedText", "decode_bytes", "decode_part", "extract", "html_to_text"]

MAX_DEPTH = 20  # containers (multipart or message/rfc822) inside one another
MAX_PARTS = 1000  # MIME parts visited in one message
TEXT_FACTOR = 4  # extracted text is bounded by this many characters per scanned body byte
NAME_HEADERS = ("From", "Reply-To", "To")
_DETECT_SAMPLE = 64 * 1024  # bytes given to charset detection


@dataclass(frozen=True, slots=True)
class ExtractedText:
    """What a message says, split by where a reader meets it."""

    subject: str
    names: str  # display names of From, Reply-To and To, one a line
    body: str  # every text/plain and text/html leaf in reading order, HTML rendered
    hidden: str  # HTML text styled so that a reader does not see it
    attachment_names: tuple[str, ...]
    notes: tuple[str, ...]  # human-readable facts about how the text was obtained
    parts: int  # MIME parts visited


def extract(message: Message) -> ExtractedText:
    """Extract subject, display names, visible and hidden text; never raises."""
    try:
        return _Extraction(message).run()
    except Exception as exc:  # a last resort: every step below already degrades on its own
        return ExtractedText(
            subject=_safe_header(message, "Subject"),
            names="",
            body="",
            hidden="",
            attachment_names=(),
            notes=(f"text extraction failed ({type(exc).__name__})",),
            parts=0,
        )


# -- the walk ------------------------------------------------------------------------------------


@dataclass
class _Extraction:
    message: Message
    body: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    parts: int = 0
    nested: int = 0
    budget: int = 0
    limited: bool = False
    charset_notes: set[str] = field(default_factory=set)

    def run(self) -> ExtractedText:
        self.budget = TEXT_FACTOR * max(self.message.scan_cap, 1)
        subject = self._clip(_safe_header(self.message, "Subject"))
        names = self._clip(
            "\n".join(
                name
                for header in NAME_HEADERS
                for found in self.message.header_all(header)
                for name in _display_names(found.name, found.raw)
            )
        )
        try:
            root: EmailPart | None = self.message.structure
        except Exception as exc:  # RecursionError on very deep nesting, among others
            root = None
            self.notes.append(f"MIME structure could not be parsed ({type(exc).__name__})")
        if root is not None:
            self._walk(root)
        if root is None or self.limited:
            self._raw_fallback()
        if self.nested:
            self.notes.append(f"{self.nested} nested message{'s' if self.nested != 1 else ''}")
        hidden = "\n".join(self.hidden)
        if hidden.strip():
            self.notes.append(f"hidden HTML text ({len(hidden.strip())} chars)")
        self.notes.extend(sorted(self.charset_notes))
        if self.budget <= 0:
            self.notes.append("extracted text truncated at the size limit")
        return ExtractedText(
            subject=subject,
            names=names,
            body="\n".join(self.body),
            hidden=hidden,
            attachment_names=tuple(self.attachments),
            notes=tuple(self.notes),
            parts=self.parts,
        )

    def _walk(self, root: EmailPart) -> None:
        """Depth first, in document order, with an explicit stack (no recursion)."""
        stack: list[tuple[EmailPart, int]] = [(root, 0)]
        while stack:
            part, depth = stack.pop()
            if self.parts >= MAX_PARTS:
                self._limit(f"more than {MAX_PARTS} MIME parts; the rest read as raw text")
                return
            if self.budget <= 0:
                return
            self.parts += 1
            children = self._children(part)
            if children is None:
                self._leaf(part)
                continue
            if depth >= MAX_DEPTH:
                self._limit(f"MIME nesting deeper than {MAX_DEPTH} levels; read as raw text")
                continue
            stack.extend((child, depth + 1) for child in reversed(children))

    def _children(self, part: EmailPart) -> list[EmailPart] | None:
        """Sub-parts of a container, or None for a leaf."""
        try:
            if not part.is_multipart():
                return None
            payload = part.get_payload()
        except Exception:
            return None
        if not isinstance(payload, list):
            return None
        children = [child for child in payload if isinstance(child, EmailPart)]
        if _content_type(part) == "message/rfc822":
            self.nested += 1
            for child in children:
                self._nested_headers(child)
        return children

    def _nested_headers(self, message: EmailPart) -> None:
        try:
            raw = list(message.raw_items())
        except Exception:
            return
        for name, value in raw:
            if name.lower() == "subject":
                self._add(self.body, decode_header_value(name, _clean(str(value))))
            elif name.lower() in ("from", "reply-to"):
                self._add(self.body, "\n".join(_display_names(name, _clean(str(value)))))

    def _leaf(self, part: EmailPart) -> None:
        name = _filename(part)
        if name:
            self.attachments.append(self._clip(name, charge=False))
        content_type = _content_type(part)
        if content_type not in ("text/plain", "text/html"):
            return
        text, note = decode_part(part)
        if note:
            self.charset_notes.add(note)
        if content_type == "text/html":
            visible, hidden, double = render_html(text)
            if double:
                self.charset_notes.add("double-encoded HTML entities")
            self._add(self.body, visible)
            self._add(self.hidden, hidden)
        else:
            self._add(self.body, text)

    def _add(self, target: list[str], text: str) -> None:
        if text:
            target.append(self._clip(text))

    def _clip(self, text: str, charge: bool = True) -> str:
        """Keep within the total text budget."""
        if self.budget <= 0:
            return ""
        text = text[: self.budget]
        if charge:
            self.budget -= len(text)
        return text

    def _limit(self, note: str) -> None:
        self.limited = True
        if note not in self.notes:
            self.notes.append(note)

    def _raw_fallback(self) -> None:
        """Structure beyond the limits: read the body bytes as text, MIME lines dropped.

        Crude, but an attacker must not be able to hide words by nesting deeper than we walk.
        """
        text, _ = decode_bytes(self.message.body, None)
        lines = [line for line in text.splitlines() if not _MIME_LINE.match(line)]
        self._add(self.body, "\n".join(lines))


_MIME_LINE = re.compile(r"--\S*\s*$|content-[\w-]+:|\s+boundary=|mime-version:", re.IGNORECASE)


def _content_type(part: EmailPart) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


# -- headers -------------------------------------------------------------------------------------


def _safe_header(message: Message, name: str) -> str:
    try:
        return _clean(message.header(name) or "")
    except Exception:
        return ""


def _display_names(name: str, raw: str) -> list[str]:
    """Display names in an address header; malformed input yields what can be read."""
    unfolded = raw.replace("\r", " ").replace("\n", " ")
    try:
        # getaddresses on the raw value, then each name decoded: an encoded word holding a
        # comma stays one name, and the stdlib's structured header parser (the slowest
        # step of extraction) is not needed.
        pairs = getaddresses([unfolded])
        names = [_clean(decode_header_value("Subject", n)) for n, _ in pairs if n]  # unstructured: no re-quoting
        if names or not unfolded.strip():
            return names
    except Exception:
        pass
    try:
        header = email.policy.default.header_factory(name, unfolded)
        return [_clean(a.display_name) for a in getattr(header, "addresses", ()) if a.display_name]
    except Exception:
        return []


def _filename(part: EmailPart) -> str:
    """The attachment file name, RFC 2231 and encoded words decoded."""
    try:
        name = part.get_filename()
    except Exception:
        return ""
    if not isinstance(name, str) or not name:
        return ""
    if "=?" in name:
        name = decode_header_value("Subject", name)  # unstructured: decodes encoded words
    return _clean(name)


def _clean(text: str) -> str:
    """Undo surrogate escapes from 8-bit header bytes; drop NULs."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            try:
                text, _ = decode_bytes(text.encode("utf-8", "surrogateescape"), None)
            except UnicodeEncodeError:
                text = text.encode("utf-8", "replace").decode("utf-8")
    return text.replace("\x00", "")


# -- payloads and charsets -----------------------------------------------------------------------

# Codecs that are registered as text encodings but are not mail charsets: they raise on
# ordinary bytes or interpret backslashes.
_NOT_CHARSETS = {"idna", "punycode", "undefined", "unicode_escape", "raw_unicode_escape"}
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "euc_kr": "cp949", "shift_jis": "cp932"}


def decode_part(part: EmailPart) -> tuple[str, str | None]:
    """A leaf's payload as text, and a note when the charset had to be guessed."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):
        try:
            raw = part.get_payload()
        except Exception:
            return "", None
        return (_clean(raw), None) if isinstance(raw, str) else ("", None)
    try:
        declared = part.get_content_charset()
    except Exception:
        declared = None
    return decode_bytes(payload, declared)


def decode_bytes(data: bytes, declared: str | None) -> tuple[str, str | None]:
    """Decode with the declared charset when it fits, else detect; replace what will not decode.

    Returns the text and a note when the declared charset was missing, unknown or wrong.
    """
    if not data:
        return "", None
    codec = _codec(declared)
    if codec is not None:
        for name in (codec, _SUPERSETS.get(codec)):
            if name is None:
                continue
            try:
                return data.decode(name).replace("\x00", ""), None
            except (UnicodeError, LookupError):
                continue
        if codec not in ("ascii", "utf-8"):
            # A declared charset that mostly fits is more trustworthy than a guess.
            return _decode(data, codec).replace("\x00", ""), f"invalid {_label(codec)} bytes replaced"
    if data.isascii():
        return data.decode("ascii").replace("\x00", ""), None
    try:
        text = data.decode("utf-8")
        guessed = "utf-8"
    except UnicodeDecodeError:
        guessed = _detect(data)
        text = _decode(data, guessed)
    if declared is None:
        note = f"undeclared charset read as {_label(guessed)}"
    elif codec is None:
        note = f"unknown charset {declared[:40]!r} read as {_label(guessed)}"
    else:
        note = f"charset {_label(codec)} did not fit; read as {_label(guessed)}"
    if declared is None and guessed == "utf-8":
        note = "undeclared charset read as utf-8"
    return text.replace("\x00", ""), note


def _codec(name: str | None) -> str | None:
    """Python's codec name for a mail charset, or None if unknown or not a text charset."""
    if not name:
        return None
    try:
        info = codecs.lookup(name.strip().strip("\"'"))
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return info.name


def _decode(data: bytes, codec: str) -> str:
    try:
        return data.decode(codec, "replace")
    except (UnicodeError, LookupError):
        return data.decode("cp1252", "replace")


def _detect(data: bytes) -> str:
    """Best guess for bytes that are not UTF-8; cp1252 when detection has no answer."""
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:_DETECT_SAMPLE]).best()
    except Exception:
        best = None
    if best is None:
        return "cp1252"
    codec = _codec(best.encoding)
    # A guess that would garble ASCII (UTF-16, EBCDIC) is worse than cp1252's mojibake.
    try:
        if codec is None or "Ab 1".encode(codec) != b"Ab 1":
            return "cp1252"
    except (UnicodeError, LookupError):
        return "cp1252"
    return codec


def _label(codec: str) -> str:
    """Charset names as mail headers spell them ("windows-1251", not "cp1251")."""
    if re.fullmatch(r"cp125\d", codec):
        return "windows-" + codec[2:]
    return codec.replace("_", "-")
