"""The one representation of a message that every part of spoofguard reads.

It is filled either incrementally from milter callbacks or at once from an ``.eml`` file,
so the milter, the CLI and the tests analyse exactly the same thing.
"""

from __future__ import annotations

import contextlib
import email.policy
import email.utils
import functools
import mmap
import re
import tempfile
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field

DEFAULT_IN_MEMORY = 2 * 1024 * 1024
DEFAULT_MAX_BODY = 64 * 1024 * 1024

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


class FrozenMessageError(AttributeError):
    """A change to a message after end of message began: checks read, they never write."""


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
    # Read after delivery through this host (``scan``/``check --delivered``): the
    # Authentication-Results naming this host's authserv-id were added here, not forged.
    delivered: bool = False
    frozen: bool = field(default=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: object) -> None:
        if getattr(self, "frozen", False):
            raise FrozenMessageError(f"envelope.{name} set after end of message began")
        object.__setattr__(self, name, value)

    def freeze(self) -> None:
        if not self.frozen:
            object.__setattr__(self, "rcpts", _ReadOnly(self.rcpts))
            object.__setattr__(self, "frozen", True)


class _ReadOnly(list[typing.Any]):
    """Recipients or headers once end of message began: read like a list, never changed."""

    def _refuse(self, *args: object, **kwargs: object) -> typing.NoReturn:
        raise FrozenMessageError("changed after end of message began")

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = _refuse


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """How much of a body is kept, and where.

    ``in_memory`` bytes stay in memory (signatures are verified over bodies up to this
    size); the rest is spooled to an unlinked temporary file in ``spool_dir`` (the system
    default when None), so the content scan reads text wherever it sits in the message.
    Past ``max_body`` bytes are counted, never kept: the MTA's own size limit is normally
    far lower.
    """

    in_memory: int = DEFAULT_IN_MEMORY
    max_body: int = DEFAULT_MAX_BODY
    spool_dir: str | None = None


class BodySpool:
    """Body bytes in memory up to a threshold, then in an unlinked temporary file.

    Hand-written rather than ``tempfile.SpooledTemporaryFile``: that one moves its memory
    buffer into the file on rollover, where signature checks still want the head in memory,
    and it offers no zero-copy view to search boundaries in.
    """

    def __init__(self, limits: BodyLimits) -> None:
        self.limits = limits
        self.head = bytearray()
        self.size = 0  # every byte received
        self.kept = 0  # bytes stored, in memory and in the file
        self._file: typing.IO[bytes] | None = None
        self.failed = False  # the spool file could not be written

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        room = self.limits.max_body - self.kept
        if room <= 0 or not chunk or self.failed:
            return
        chunk = chunk[:room]
        self.kept += len(chunk)
        head_room = max(self.limits.in_memory - len(self.head), 0)
        if head_room:
            self.head += chunk[:head_room]
        if len(chunk) <= head_room:
            return
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(dir=self.limits.spool_dir)
                self._file.write(self.head)
            self._file.write(chunk[head_room:])
        except OSError:
            # A full or unwritable spool directory costs the scan the rest of the body,
            # never the message: what is in memory is still read, the rest is "unread".
            self.close()
            self.failed = True
            self.kept = len(self.head)

    @property
    def spooled(self) -> bool:
        return self._file is not None

    @contextlib.contextmanager
    def view(self) -> Iterator[bytes | bytearray | mmap.mmap]:
        """Every kept byte as one searchable, sliceable buffer (the file mapped, not read)."""
        if self._file is None:
            yield self.head
            return
        self._file.flush()
        mapped = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            yield mapped
        finally:
            mapped.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass(eq=False)
class Message:
    """Envelope, headers in order, and the body within ``limits``.

    The first ``limits.in_memory`` body bytes are in memory (``body``); the rest up to
    ``limits.max_body`` is spooled (``body_view``); bytes past that are counted, never
    kept, and ``truncated`` says so.
    """

    envelope: Envelope = field(default_factory=Envelope)
    headers: list[Header] = field(default_factory=list)
    limits: BodyLimits = field(default_factory=BodyLimits)
    _spool: BodySpool | None = field(default=None, repr=False)
    frozen: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self._spool is None:
            self._spool = BodySpool(self.limits)

    def __setattr__(self, name: str, value: object) -> None:
        if getattr(self, "frozen", False):
            raise FrozenMessageError(f"message.{name} set after end of message began")
        object.__setattr__(self, name, value)

    def freeze(self) -> None:
        """End of message began: from here on every part of spoofguard only reads it."""
        self.envelope.freeze()
        object.__setattr__(self, "headers", _ReadOnly(self.headers))
        object.__setattr__(self, "frozen", True)

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        envelope: Envelope | None = None,
        limits: BodyLimits | None = None,
    ) -> Message:
        """Build from a whole RFC 5322 message (an ``.eml`` file or stdin)."""
        message = cls(envelope=envelope or Envelope(), limits=limits or BodyLimits())
        head, body = split_head_body(data)
        for name, raw in iter_raw_headers(head):
            message.add_header(name, raw)
        message.add_body(body)
        return message

    def add_header(self, name: str, raw: str) -> None:
        if self.frozen:
            raise FrozenMessageError("header added after end of message began")
        self.headers.append(Header(name, raw))

    def add_body(self, chunk: bytes) -> None:
        if self.frozen:
            raise FrozenMessageError("body added after end of message began")
        self.spool.write(chunk)

    @property
    def spool(self) -> BodySpool:
        assert self._spool is not None
        return self._spool

    def body_view(self) -> contextlib.AbstractContextManager[bytes | bytearray | mmap.mmap]:
        """Every kept body byte, in memory or mapped from the spool file."""
        return self.spool.view()

    def close(self) -> None:
        """Drop the spool file now rather than when the message is garbage-collected."""
        self.spool.close()

    @property
    def body(self) -> bytes:
        """The body bytes held in memory (all of it unless ``beyond_memory``)."""
        return bytes(self.spool.head)

    @property
    def body_size(self) -> int:
        return self.spool.size

    @property
    def scanned_bytes(self) -> int:
        """Body bytes kept for the content scan."""
        return self.spool.kept

    @property
    def truncated(self) -> bool:
        """Body bytes past ``limits.max_body`` were dropped unread."""
        return self.spool.size > self.spool.kept

    @property
    def beyond_memory(self) -> bool:
        """The body is longer than what is held in memory: too long to hash for signatures."""
        return self.spool.size > len(self.spool.head)

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
        """Header section and in-memory body as wire bytes, for signature verification."""
        return self.raw_head() + b"\r\n" + bytes(self.spool.head)

    def raw_head(self) -> bytes:
        """The header section as wire bytes (CRLF line ends), without the blank line."""
        return "".join(f"{h.name}: {_unfold_for_reparse(h.raw)}\r\n" for h in self.headers).encode("utf-8", "surrogateescape")

    def header_all(self, name: str) -> list[Header]:
        wanted = name.lower()
        return [h for h in self.headers if h.name.lower() == wanted]


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


def from_address(message: Message) -> str | None:
    """The single author address of the From field, or None when there is not exactly one."""
    fields = message.header_all("From")
    return _single_address(fields[0].raw) if len(fields) == 1 else None


@functools.lru_cache(maxsize=4096)
def _single_address(raw: str) -> str | None:
    """Every check asks for the From address; parse each distinct field value once."""
    addresses = [a for _, a in email.utils.getaddresses([decode_header_value("From", raw)]) if "@" in a]
    return addresses[0].lower() if len(addresses) == 1 else None


def strip_brackets(address: str) -> str:
    """An SMTP path without its angle brackets: ``<a@b>`` is ``a@b``."""
    address = address.strip()
    return address[1:-1] if address.startswith("<") and address.endswith(">") else address
