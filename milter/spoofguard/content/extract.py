"""The text of a message as a reader sees it, and the text hidden from the reader.

``extract`` walks the MIME tree (nested messages included), decodes transfer encodings
and charsets, renders HTML to text with the standard library parser (nothing is run or
fetched) and separates what a reader sees from HTML text styled to be invisible. It never
raises: broken encodings, unknown charsets and hostile structures degrade to replacement
characters and a note.

Decisions:

* Hidden HTML text (``display:none``, ``visibility:hidden``, zero font size or opacity,
  far off-screen offsets, ``mso-hide:all``, text coloured like its background, the
  ``hidden`` attribute, ``<template>``) goes to ``hidden``, never to ``body``: padding a
  threat with invisible newsletter text must not dilute it, and invisible text written to
  fool filters is a finding in itself. Background colour is inherited; the page is taken
  to be white when no background is given.
* ``<noscript>`` content is visible: mail clients never run scripts, so they show it.
* Image ``alt`` text is visible: many clients block images by default and show the alt
  text instead, so extortion mail can put its words there.
* Subjects of nested messages are not the message's Subject: they are read as body text,
  a line before the nested message's own text.
"""

from __future__ import annotations

import codecs
import email.policy
import html
import re
from dataclasses import dataclass, field
from email.message import Message as EmailPart
from email.utils import getaddresses
from html.parser import HTMLParser

from ..message import Message, decode_header_value

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
            visible, hidden, double = _render_html(text)
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


# -- HTML ----------------------------------------------------------------------------------------

_SKIP = frozenset({"script", "style", "head", "title", "object", "iframe", "svg", "math"})
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "param", "source", "track", "wbr"})
_BLOCK = frozenset({"address", "article", "aside", "blockquote", "br", "center", "dd", "div",
                    "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1",
                    "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol",
                    "p", "pre", "section", "table", "tbody", "td", "tfoot", "th", "thead",
                    "tr", "ul", "body", "html", "caption"})
# Start tags that close an open <p>, and elements that close an open one of their own kind,
# as browsers do: otherwise text after an unclosed hidden <p> would wrongly stay hidden.
_CLOSES_P = frozenset({"p", "div", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
                       "blockquote", "pre", "section", "article", "header", "footer", "hr"})
_SELF_CLOSING = {"li": {"li"}, "td": {"td", "th"}, "th": {"td", "th"}, "tr": {"tr"},
                 "dd": {"dd", "dt"}, "dt": {"dd", "dt"}, "option": {"option"}}
_HIDING_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)|mso-hide\s*:\s*all"
    r"|(?<![\w-])font-size\s*:\s*0*(?:\.0+)?(?:[a-z%]+)?\s*(?:;|!|$)"
    r"|(?<![\w-])opacity\s*:\s*0*(?:\.0+)?\s*(?:;|!|$)"
    r"|(?<![\w-])(?:text-indent|left|top|margin-left|margin-top)\s*:\s*-\d{3,}",
    re.IGNORECASE,
)
_COLOR = re.compile(r"(?<![\w-])color\s*:\s*([^;!]+)", re.IGNORECASE)
_BACKGROUND = re.compile(r"(?<![\w-])background(?:-color)?\s*:\s*([^;!]+)", re.IGNORECASE)
_ENTITY = re.compile(r"&(?:#\d{1,7}|#x[0-9a-f]{1,6}|[a-z][a-z0-9]{1,31});", re.IGNORECASE)
_NAMED_COLORS = {"white": (255, 255, 255), "black": (0, 0, 0), "red": (255, 0, 0),
                 "green": (0, 128, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0),
                 "gray": (128, 128, 128), "grey": (128, 128, 128), "silver": (192, 192, 192),
                 "whitesmoke": (245, 245, 245), "snow": (255, 250, 250), "ivory": (255, 255, 240)}
_WHITE = (255, 255, 255)
_RGB = re.compile(r"rgba?\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})")
_HEX = re.compile(r"#?([0-9a-f]{3}|[0-9a-f]{6})\b", re.IGNORECASE)
_RGBColor = tuple[int, int, int]


def _parse_color(value: str | None) -> _RGBColor | None:
    if not value:
        return None
    value = value.strip().lower()
    if value in _NAMED_COLORS:
        return _NAMED_COLORS[value]
    if match := _RGB.match(value):
        r, g, b = (min(int(x), 255) for x in match.groups())
        return (r, g, b)
    if (match := _HEX.match(value)) and (value.startswith("#") or len(value) in (3, 6)):
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
    return None


def _same_color(a: _RGBColor | None, b: _RGBColor | None) -> bool:
    return a is not None and b is not None and max(abs(x - y) for x, y in zip(a, b, strict=True)) <= 8


@dataclass(slots=True)
class _Element:
    tag: str
    hidden: bool
    skip: bool
    background: _RGBColor | None


class _Renderer(HTMLParser):
    """Visible and hidden text of an HTML document, tracked per open element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.visible: list[str] = []
        self.hidden: list[str] = []
        self.stack: list[_Element] = []

    def _top(self) -> _Element:
        return self.stack[-1] if self.stack else _Element("", False, False, _WHITE)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._implicit_close(tag)
        parent = self._top()
        values = {name: value or "" for name, value in attrs}
        style = values.get("style", "")
        background = (
            _parse_color(_last(_BACKGROUND, style)) or _parse_color(values.get("bgcolor"))
            or parent.background
        )
        color = _parse_color(_last(_COLOR, style)) or (
            _parse_color(values.get("color")) if tag == "font" else None
        )
        hidden = (
            parent.hidden
            or tag == "template"
            or "hidden" in values
            or bool(style and _HIDING_STYLE.search(style))
            or _same_color(color, background)
        )
        skip = parent.skip or tag in _SKIP
        if tag in _BLOCK:
            self._emit("\n", hidden, skip)
        if tag == "img" and values.get("alt"):
            self._emit(f" {values['alt']} ", hidden, skip)
        if tag not in _VOID:
            self.stack.append(_Element(tag, hidden, skip, background))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                break
        if tag in _BLOCK:
            top = self._top()
            self._emit("\n", top.hidden, top.skip)

    def handle_data(self, data: str) -> None:
        top = self._top()
        self._emit(data, top.hidden, top.skip)

    def _emit(self, text: str, hidden: bool, skip: bool) -> None:
        if not skip:
            (self.hidden if hidden else self.visible).append(text)

    def _implicit_close(self, tag: str) -> None:
        closes = {"p"} if tag in _CLOSES_P else _SELF_CLOSING.get(tag)
        if not closes:
            return
        # Only up to the nearest enclosing block that would contain it (a table cell, a list).
        for index in range(len(self.stack) - 1, max(-1, len(self.stack) - 64), -1):
            current = self.stack[index].tag
            if current in closes:
                del self.stack[index:]
                return
            if current in ("table", "ul", "ol", "dl", "td", "th", "div", "body", "blockquote"):
                return


def _last(pattern: re.Pattern[str], style: str) -> str | None:
    """The last declaration wins in CSS."""
    found = pattern.findall(style) if style else []
    return found[-1] if found else None


def _render_html(source: str) -> tuple[str, str, bool]:
    """Visible text, hidden text, and whether entities were double-encoded."""
    renderer = _Renderer()
    try:
        renderer.feed(source)
        renderer.close()
    except Exception:  # HTMLParser is lenient, but hostile input must not escape
        return re.sub(r"<[^>]*>", " ", source), "", False
    visible = "".join(renderer.visible)
    hidden = "".join(renderer.hidden)
    double = False
    # "&amp;#118;" renders as the literal "&#118;": one more pass shows what was meant.
    # Only when the rendered text still holds entities, so a plain "&" is left alone.
    if _ENTITY.search(visible):
        visible, double = html.unescape(visible), True
    if _ENTITY.search(hidden):
        hidden = html.unescape(hidden)
    return visible, hidden, double


def html_to_text(source: str) -> str:
    """Visible text of an HTML document (hidden text left out)."""
    return _render_html(source)[0]

