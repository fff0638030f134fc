"""The one representation of a message that every part of spoofguard reads.

It is filled either incrementally from milter callbacks or at once from an ``.eml`` file,
so the milter, the CLI and the tests analyse exactly the same thing.
"""

from __future__ import annotations

import email.policy
import functools
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.message import Message as EmailPart
from email.parser import BytesParser
from functools import cached_property

from .edits import HeaderEdit

DEFAULT_SCAN_CAP = 2 * 1024 * 1024

_PARSER = BytesParser(policy=email.policy.default)
# compat32 leaves header values as strings: walking the MIME tree this way does not run the
# default policy's structured header parser on every Content-Type lookup, which otherwise
# costs more than everything else the content check does.
_STRUCTURE_PARSER = BytesParser(policy=email.policy.compat32)
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LINE_END = re.compile(r"\r?\n")
_FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext: printable ASCII except colon


@dataclass(frozen=True, slots=True)
class Header:
    """A header field as received: ``raw`` keeps folding and encoded words."""

    name: str
    raw: str

    @property
    def value(self) -> str:
        """The decoded value (RFC 2047 words decoded, unfolded); never raises."""
        return decode_header_value(self.name, self.raw)


@dataclass(slots=True)
class Envelope:
    """What the MTA knows before the message content arrives."""

    client_ip: str | None = None
    client_name: str | None = None
    helo: str | None = None
    mail_from: str | None = None
    rcpts: list[str] = field(default_factory=list)
    queue_id: str | None = None
    auth_user: str | None = None  # SMTP AUTH (SASL) login: a submission, not inbound mail


@dataclass(eq=False)
class Message:
    """Envelope, headers in order, and the body up to the scan cap.

    Body bytes past ``scan_cap`` are counted but never kept: they pass through the MTA
    untouched and unscanned, and ``truncated`` says so.
    """

    envelope: Envelope = field(default_factory=Envelope)
    headers: list[Header] = field(default_factory=list)
    scan_cap: int = DEFAULT_SCAN_CAP
    body_size: int = 0
    _body: bytearray = field(default_factory=bytearray, repr=False)
    # Findings one check leaves for another (the authentication summary the impersonation
    # check reads) and header edits checks ask for; both belong to this message only.
    notes: dict[str, object] = field(default_factory=dict, repr=False)
    edits: list[HeaderEdit] = field(default_factory=list, repr=False)

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        envelope: Envelope | None = None,
        scan_cap: int = DEFAULT_SCAN_CAP,
    ) -> Message:
        """Build from a whole RFC 5322 message (an ``.eml`` file or stdin)."""
        message = cls(envelope=envelope or Envelope(), scan_cap=scan_cap)
        head, body = split_head_body(data)
        for name, raw in iter_raw_headers(head):
            message.add_header(name, raw)
        message.add_body(body)
        return message

    def add_header(self, name: str, raw: str) -> None:
        self.headers.append(Header(name, raw))

    def add_body(self, chunk: bytes) -> None:
        """Keep bytes only up to the scan cap; count all of them."""
        room = self.scan_cap - len(self._body)
        if room > 0:
            self._body += chunk[:room]
        self.body_size += len(chunk)

    @property
    def body(self) -> bytes:
        return bytes(self._body)

    @property
    def scanned_bytes(self) -> int:
        return len(self._body)

    @property
    def truncated(self) -> bool:
        return self.body_size > len(self._body)

    def header(self, name: str) -> str | None:
        """Decoded value of the first header called ``name`` (case-insensitive)."""
        wanted = name.lower()
        for header in self.headers:
            if header.name.lower() == wanted:
                return header.value
        return None

    def indexed_headers(self) -> list[tuple[Header, int]]:
        """Each field with its 1-based index among fields of the same name, as milters count."""
        counts: dict[str, int] = {}
        indexed = []
        for header in self.headers:
            key = header.name.lower()
            counts[key] = counts.get(key, 0) + 1
            indexed.append((header, counts[key]))
        return indexed

    def raw_bytes(self) -> bytes:
        """Header section and scanned body as wire bytes, for signature verification."""
        head = "".join(f"{h.name}: {_unfold_for_reparse(h.raw)}\r\n" for h in self.headers)
        return head.encode("utf-8", "surrogateescape") + b"\r\n" + bytes(self._body)

    def header_all(self, name: str) -> list[Header]:
        wanted = name.lower()
        return [h for h in self.headers if h.name.lower() == wanted]

    @cached_property
    def parsed(self) -> EmailMessage:
        """The message parsed by the stdlib ``email`` package (policy ``default``).

        Parsed once, on first use, from the scanned bytes only.
        """
        parsed: EmailMessage = _PARSER.parsebytes(self.raw_bytes())
        return parsed

    @cached_property
    def structure(self) -> EmailPart:
        """The MIME tree for walking parts and decoding payloads (policy ``compat32``):
        header values stay raw strings, so callers decode only the headers they read."""
        return _STRUCTURE_PARSER.parsebytes(self.raw_bytes())


def decode_header_value(name: str, raw: str) -> str:
    """Decode RFC 2047 words and unfold; malformed input degrades to the raw text.

    Values without encoded words need no decoding (address fields excepted: the parser
    also normalises their quoting), which spares the structured header parser, the
    slowest step of reading a message; repeated reads of a short field hit a cache
    (long ones are not kept: a hostile 1 MB header must not pin memory)."""
    return _decode_cached(name, raw) if len(raw) <= 1024 else _decode(name, raw)


def _decode(name: str, raw: str) -> str:
    unfolded = _FOLD.sub("", raw).replace("\r", " ").replace("\n", " ")
    if "=?" not in unfolded and name.lower() not in _ADDRESS_FIELDS:
        return unfolded
    try:
        return str(email.policy.default.header_factory(name, unfolded))
    except Exception:  # the email package raises many types on hostile input
        return unfolded


_decode_cached = functools.lru_cache(maxsize=4096)(_decode)
_ADDRESS_FIELDS = frozenset({"from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender",
                             "resent-to", "resent-cc", "resent-bcc"})


def split_head_body(data: bytes) -> tuple[bytes, bytes]:
    """Split at the first empty line, accepting CRLF or bare LF line endings."""
    for blank in (b"\r\n", b"\n"):
        if data.startswith(blank):
            return b"", data[len(blank) :]
    found = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (i := data.find(sep)) != -1]
    if not found:
        return data, b""
    index, size = min(found)
    return data[:index], data[index + size :]


def iter_raw_headers(head: bytes) -> list[tuple[str, str]]:
    """Header fields in order with their raw (folded) values, as an MTA would pass them."""
    text = head.decode("utf-8", "surrogateescape")
    fields: list[tuple[str, str]] = []
    # Only CR LF / LF end a line: str.splitlines() would also split at \v, \f, U+2028...
    for line in _LINE_END.split(text):
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + "\n" + line)
            continue
        name, sep, value = line.partition(":")
        if not sep or not _FIELD_NAME.fullmatch(name):
            continue  # not a header field; the MTA would have refused or moved it
        fields.append((name, value[1:] if value.startswith(" ") else value))
    return fields


def _unfold_for_reparse(raw: str) -> str:
    return raw.replace("\r\n", "\n").replace("\n", "\r\n")
