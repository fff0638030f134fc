"""The text of a message as a reader sees it, and the text hidden from the reader.

``extract`` walks the MIME tree (``mime``; nested messages included), undoes transfer
encodings (``transfer``) and charsets, renders HTML as a client does (``html``), reads the
text of PDF attachments in a bounded worker (``pdf``), and separates what a reader sees
from HTML text styled to be invisible. It never raises: broken encodings, unknown charsets
and hostile structures degrade to replacement characters and a note.

What is read, and what bounds it:

* Every ``text/*`` part (``text/html`` rendered, the rest as plain text), attachments
  whose name says text (``.txt``, ``.md``, ``.csv``, ``.htm``…) whatever type they are
  sent as, ``application/octet-stream`` parts that turn out to be text, and PDFs.
* Other parts (images, archives, office files) are skipped without being read: their
  size costs nothing, so padding a message with a big attachment hides no text.
* The work is bounded by ``TextLimits.max_text`` characters of *extracted* text. Text
  that stays unread (past that limit, past the spool's ``max_body``, a PDF that could not
  be read) is named in ``ExtractedText.unread``: the content check makes a signal of it.
* ``format=flowed`` text is joined as clients join it (RFC 3676, ``delsp=yes`` too).
* Subjects of nested messages are not the message's Subject: they are read as body text,
  a line before the nested message's own text.
"""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message as PartHeaders
from email.parser import BytesHeaderParser
from email.utils import getaddresses

from ...message import Message, decode_header_value
from .charset import decode_bytes
from .html import html_to_text, render_html
from .mime import MAX_DEPTH, MAX_PARTS, MimeWalk, Nested, Part, RawRange
from .pdf import read_pdf

__all__ = ["MAX_DEPTH", "MAX_PARTS", "ExtractedText", "TextLimits", "decode_bytes", "extract", "html_to_text"]

DEFAULT_MAX_TEXT = 1_000_000
RAW_FACTOR = 8  # encoded bytes read per character of text still allowed (markup, base64)
TAIL_SHARE = 4  # of an over-long part, a quarter of what it may use is read from its end
NAME_HEADERS = ("From", "Reply-To", "To")
_SNIFF = 4096  # bytes of an octet-stream part looked at to tell text from binary
_PLAIN_NAMES = re.compile(r"\.(?:txt|text|md|markdown|csv|tsv|log|asc|rst|ics|vcf|eml|msg)$", re.IGNORECASE)
_HTML_NAMES = re.compile(r"\.(?:html?|xhtml)$", re.IGNORECASE)
_PDF_NAMES = re.compile(r"\.pdf$", re.IGNORECASE)
_HEADER_PARSER = BytesHeaderParser(policy=email.policy.compat32)


@dataclass(frozen=True, slots=True)
class TextLimits:
    """What one message may cost the content scan."""

    max_text: int = DEFAULT_MAX_TEXT  # characters of extracted text
    pdf: bool = True  # read the text of PDF attachments
    max_pdfs: int = 3
    max_pdf_bytes: int = 10 * 1024 * 1024
    pdf_timeout: float = 5.0  # seconds per PDF


@dataclass(frozen=True, slots=True)
class ExtractedText:
    """What a message says, split by where a reader meets it."""

    subject: str
    names: str  # display names of From, Reply-To and To, one a line
    body: str  # every text-bearing leaf in reading order, HTML rendered
    hidden: str  # HTML text styled so that a reader does not see it
    attachment_names: tuple[str, ...]
    notes: tuple[str, ...]  # human-readable facts about how the text was obtained
    parts: int  # MIME parts visited
    unread: tuple[str, ...] = ()  # text the scan did not read, and why


def extract(message: Message, limits: TextLimits | None = None) -> ExtractedText:
    """Extract subject, display names, visible and hidden text; never raises."""
    try:
        return _Extraction(message, limits or TextLimits()).run()
    except Exception as exc:  # a last resort: every step below already degrades on its own
        return ExtractedText(
            subject=_safe_header(message, "Subject"),
            names="",
            body="",
            hidden="",
            attachment_names=(),
            notes=(f"text extraction failed ({type(exc).__name__})",),
            parts=0,
            unread=("the message body (text extraction failed)",),
        )


# -- the walk ------------------------------------------------------------------------------------


@dataclass
class _Extraction:
    message: Message
    limits: TextLimits
    body: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    parts: int = 0
    nested: int = 0
    pdfs: int = 0
    budget: int = 0
    charset_notes: set[str] = field(default_factory=set)

    def run(self) -> ExtractedText:
        self.budget = max(self.limits.max_text, 1)
        subject = self._clip(_safe_header(self.message, "Subject"))
        names = self._clip(
            "\n".join(
                name
                for header in NAME_HEADERS
                for found in self.message.header_all(header)
                for name in _display_names(found.name, found.raw)
            )
        )
        with self.message.body_view() as buffer:
            walker = MimeWalk(_top_headers(self.message), buffer)
            for item in walker:
                if isinstance(item, Part):
                    self._leaf(item)
                elif isinstance(item, Nested):
                    self.nested += 1
                    self._nested_headers(item.headers)
                else:
                    self._raw(item)
            self.parts = walker.visited
        if self.message.truncated:
            dropped = self.message.body_size - self.message.scanned_bytes
            where = "that could not be spooled" if self.message.spool.failed else "past analysis.max_body"
            self.unread.append(f"{dropped} body bytes {where}")
        if self.nested:
            self.notes.append(f"{self.nested} nested message{'s' if self.nested != 1 else ''}")
        hidden = "\n".join(self.hidden)
        if hidden.strip():
            self.notes.append(f"hidden HTML text ({len(hidden.strip())} chars)")
        self.notes.extend(sorted(self.charset_notes))
        if self.budget <= 0:
            self.notes.append(f"extracted text stopped at {self.limits.max_text} characters")
        return ExtractedText(
            subject=subject,
            names=names,
            body="\n".join(self.body),
            hidden=hidden,
            attachment_names=tuple(self.attachments),
            notes=tuple(self.notes),
            parts=self.parts,
            unread=tuple(dict.fromkeys(self.unread)),
        )

    def _leaf(self, part: Part) -> None:
        name = _filename(part.headers)
        if name:
            self.attachments.append(self._clip(name, charge=False))
        kind = _text_kind(part, name)
        if kind is None:
            return
        label = _label_part(part, name)
        if kind == "pdf":
            self._pdf(part, label)
            return
        if self.budget <= 0:
            self.unread.append(label)
            return
        data, cut = part.content(RAW_FACTOR * self.budget)
        visible = self._render(part, kind, data)
        if not cut and len(visible) <= self.budget:
            self._add(self.body, visible)
            return
        # Too long for what is left: read its start and its end, so that padding put in
        # front of a threat (or after it) cannot decide what is read, and leave half of
        # the budget to the parts that follow.
        allowance = max(self.budget // 2, 1)
        tail = allowance // TAIL_SHARE
        self._add(self.body, visible[: allowance - tail])
        if tail:
            end = self._render(part, kind, part.tail(RAW_FACTOR * tail)) if cut else visible
            self._add(self.body, end[-tail:])
        self.unread.append(f"the middle of {label}")

    def _render(self, part: Part, kind: str, data: bytes) -> str:
        """One stretch of a text part as the reader sees it (hidden HTML text kept apart)."""
        text, note = decode_bytes(data, _charset(part.headers))
        if note:
            self.charset_notes.add(note)
        if _param(part.headers, "format") == "flowed":
            text = unflow(text, delsp=_param(part.headers, "delsp") == "yes")
        if kind != "html":
            return text
        visible, hidden, double = render_html(text)
        if double:
            self.charset_notes.add("double-encoded HTML entities")
        self._add(self.hidden, hidden)
        return visible

    def _pdf(self, part: Part, label: str) -> None:
        limits = self.limits
        if not limits.pdf:
            return
        if self.pdfs >= limits.max_pdfs or part.size > limits.max_pdf_bytes * 4 // 3 + 4096 or self.budget <= 0:
            self.unread.append(f"{label} (over the PDF limits)")
            return
        self.pdfs += 1
        data, _ = part.content(part.size)
        found = read_pdf(data, limits.pdf_timeout)
        if found.error:
            self.unread.append(f"{label}: {found.error}")
            return
        self.notes.append(f"text of {label} read")
        if self._add(self.body, found.text):
            self.unread.append(f"the rest of {label}")

    def _nested_headers(self, headers: PartHeaders) -> None:
        try:
            raw = list(headers.raw_items())
        except Exception:
            return
        for name, value in raw:
            if name.lower() == "subject":
                self._add(self.body, decode_header_value(name, _clean(str(value))))
            elif name.lower() in ("from", "reply-to"):
                self._add(self.body, "\n".join(_display_names(name, _clean(str(value)))))

    def _raw(self, item: RawRange) -> None:
        """Structure beyond the walk's limits: the bytes read as text, MIME lines dropped.

        Crude, but an attacker must not be able to hide words by nesting deeper than we walk.
        """
        note = f"{item.why}; the rest read as raw text"
        if note not in self.notes:
            self.notes.append(note)
        if self.budget <= 0:
            self.unread.append(f"{item.end - item.start} bytes past the MIME limits")
            return
        end = min(item.end, item.start + RAW_FACTOR * self.budget)
        text, _ = decode_bytes(bytes(item.buffer[item.start:end]), None)
        lines = [line for line in text.splitlines() if not _MIME_LINE.match(line)]
        if self._add(self.body, "\n".join(lines)) or end < item.end:
            self.unread.append(f"{item.end - item.start} bytes past the MIME limits")

    def _add(self, target: list[str], text: str) -> bool:
        """Keep ``text`` within the budget; True when some of it did not fit."""
        if not text:
            return False
        kept = self._clip(text)
        if kept:
            target.append(kept)
        return len(kept) < len(text)

    def _clip(self, text: str, charge: bool = True) -> str:
        """Keep within the total text budget."""
        if self.budget <= 0:
            return ""
        text = text[: self.budget]
        if charge:
            self.budget -= len(text)
        return text


_MIME_LINE = re.compile(r"--\S*\s*$|content-[\w-]+:|\s+boundary=|mime-version:", re.IGNORECASE)


def _top_headers(message: Message) -> PartHeaders:
    """The message's own Content-* fields, parsed as a part's headers are."""
    fields = [h for h in message.headers if h.name.lower().startswith("content-")]
    raw = "".join(f"{h.name}: {h.raw}\r\n" for h in fields[:64]).encode("utf-8", "surrogateescape")
    try:
        return _HEADER_PARSER.parsebytes(raw)
    except Exception:
        return PartHeaders()


def _text_kind(part: Part, name: str) -> str | None:
    """How a leaf is read: "plain", "html", "pdf", or None when it carries no text."""
    content_type = part.content_type
    if content_type == "text/html" or _HTML_NAMES.search(name):
        return "html"
    if content_type.startswith("text/") or _PLAIN_NAMES.search(name):
        return "plain"
    if content_type == "application/pdf" or _PDF_NAMES.search(name):
        return "pdf"
    if content_type in ("application/octet-stream", "application/unknown") and _looks_like_text(part):
        return "plain"
    return None


def _looks_like_text(part: Part) -> bool:
    sample, _ = part.content(_SNIFF)
    if not sample or b"\x00" in sample:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not just a character cut at the end of the sample
            return False
        text = sample[: exc.start].decode("utf-8")
    printable = sum(1 for c in text if c.isprintable() or c in "\r\n\t")
    return printable >= 0.97 * len(text) and sum(c.isalpha() for c in text) >= 0.5 * len(text.strip() or "x")


def _label_part(part: Part, name: str) -> str:
    what = f"{part.content_type} part"
    return f"{what} {name[:60]!r} ({part.size} bytes)" if name else f"{what} ({part.size} bytes)"


def _charset(headers: PartHeaders) -> str | None:
    try:
        return headers.get_content_charset()
    except Exception:
        return None


def _param(headers: PartHeaders, name: str) -> str:
    try:
        value = headers.get_param(name)
    except Exception:
        return ""
    return str(value).strip().lower() if isinstance(value, str) else ""


def unflow(text: str, delsp: bool) -> str:
    """RFC 3676 ``format=flowed``: a line ending in a space continues on the next line
    (that space dropped under ``delsp=yes``, so words split across lines rejoin); a
    leading space is stuffing. The signature separator ``-- `` stays a line."""
    out: list[str] = []
    current = ""
    for line in text.splitlines():
        quote = len(line) - len(line.lstrip(">"))
        line = line[quote:]
        if line.startswith(" "):
            line = line[1:]
        if line.endswith(" ") and line != "-- ":
            current += line[:-1] if delsp else line
            continue
        out.append(">" * quote + current + line)
        current = ""
    if current:
        out.append(current)
    return "\n".join(out)


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


def _filename(part: PartHeaders) -> str:
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
