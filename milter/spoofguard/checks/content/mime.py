"""The MIME structure of a body, walked over one buffer without copying what it skips.

Hand-written rather than ``email.parser``: the stdlib parser copies every part, binary
attachments included, into Python strings (about 16 MB of transient objects for a 2 MiB
body) and needs the whole body in memory. Here the body is a buffer (in memory, or the
spool file mapped), part boundaries are found with ``find``, and only the leaves that
carry text are ever sliced out. Part headers themselves are still parsed by the stdlib
(``BytesHeaderParser``), so parameters, RFC 2231 names and quoting read as usual.

Decisions, as mail clients read mail:

* A delimiter is ``--boundary`` at the start of a line followed only by optional ``--``
  and whitespace; a longer boundary that merely starts with ours is no delimiter.
* A multipart without a boundary parameter, or whose boundary never occurs, is shown by
  clients as text: it is a ``text/plain`` leaf here too, so nothing in it goes unread.
* The part after the last delimiter runs to the end when the close delimiter is missing.
* ``message/rfc822`` parts are walked into, even when (against RFC 2046) they carry a
  base64 or quoted-printable encoding.
* Past ``MAX_DEPTH`` nested containers or ``MAX_PARTS`` parts the rest is handed on as
  raw ranges, so nesting deeper than we walk cannot hide words.
"""

from __future__ import annotations

import email.policy
import mmap
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message as PartHeaders
from email.parser import BytesHeaderParser

from .transfer import align_base64_tail, decode_transfer, transfer_encoding

__all__ = ["MAX_DEPTH", "MAX_PARTS", "Buffer", "MimeWalk", "Nested", "Part", "RawRange", "header_block", "walk"]

Buffer = bytes | bytearray | mmap.mmap

MAX_DEPTH = 20  # containers (multipart or message/rfc822) inside one another
MAX_PARTS = 1000  # MIME parts visited in one message
MAX_HEADER_BLOCK = 64 * 1024  # bytes of one part's header section
_MAX_DELIMITER_LINE = 1024  # a delimiter line longer than this is no delimiter
_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_PARSER = BytesHeaderParser(policy=email.policy.compat32)


@dataclass(frozen=True, slots=True)
class Part:
    """A leaf: its headers and where its (still encoded) content sits in ``buffer``."""

    headers: PartHeaders
    buffer: Buffer
    start: int
    end: int
    content_type: str

    @property
    def size(self) -> int:
        return self.end - self.start

    def content(self, limit: int) -> tuple[bytes, bool]:
        """The first ``limit`` encoded bytes decoded, and whether any were left out."""
        end = min(self.end, self.start + max(limit, 0))
        return decode_transfer(bytes(self.buffer[self.start:end]), self.headers), end < self.end

    def tail(self, limit: int) -> bytes:
        """About the last ``limit`` encoded bytes decoded, from a line start (base64 from a
        quantum the end of the part is aligned to), so decoding resumes cleanly."""
        start = max(self.start, self.end - max(limit, 0))
        data = bytes(self.buffer[start:self.end])
        if start > self.start:
            line = data.find(b"\n")
            data = data[line + 1:] if line != -1 else data
            if transfer_encoding(self.headers) == "base64":
                data = align_base64_tail(data)
        return decode_transfer(data, self.headers)


@dataclass(frozen=True, slots=True)
class Nested:
    """The headers of a message inside this one (``message/rfc822``)."""

    headers: PartHeaders


@dataclass(frozen=True, slots=True)
class RawRange:
    """Structure beyond the walk's limits, to be read as raw text."""

    buffer: Buffer
    start: int
    end: int
    why: str


@dataclass(frozen=True, slots=True)
class _Pending:
    headers: PartHeaders
    buffer: Buffer
    start: int
    end: int
    depth: int
    default_type: str = "text/plain"


class MimeWalk:
    """Leaves, nested-message headers and raw ranges in reading order, depth first;
    ``visited`` counts the parts seen, containers included."""

    def __init__(self, top: PartHeaders, buffer: Buffer) -> None:
        self.top = top
        self.buffer = buffer
        self.visited = 0

    def __iter__(self) -> Iterator[Part | Nested | RawRange]:
        for item in _walk(self.top, self.buffer):
            if not isinstance(item, RawRange):
                self.visited += 1
            if item is not None:
                yield item


def walk(top: PartHeaders, buffer: Buffer) -> Iterator[Part | Nested | RawRange]:
    return iter(MimeWalk(top, buffer))


def _walk(top: PartHeaders, buffer: Buffer) -> Iterator[Part | Nested | RawRange | None]:
    stack = [_Pending(top, buffer, 0, len(buffer), 0)]
    parts = 0
    while stack:
        item = stack.pop()
        parts += 1
        if parts > MAX_PARTS:
            why = f"more than {MAX_PARTS} MIME parts"
            yield RawRange(item.buffer, item.start, item.end, why)
            yield from (RawRange(p.buffer, p.start, p.end, why) for p in reversed(stack))
            return
        content_type = _content_type(item.headers, item.default_type)
        if content_type.startswith("multipart/") or content_type in ("message/rfc822", "message/global"):
            if item.depth >= MAX_DEPTH:
                yield RawRange(item.buffer, item.start, item.end, f"MIME nesting deeper than {MAX_DEPTH} levels")
                continue
            if content_type.startswith("multipart/"):
                children = _children(item, content_type)
                if children is not None:
                    stack.extend(reversed(children))
                    yield None  # a container: counted, nothing to read
                    continue
                content_type = "text/plain"  # no usable boundary: clients show it as text
            else:
                nested = _nested(item)
                yield Nested(nested.headers)
                stack.append(nested)
                continue
        yield Part(item.headers, item.buffer, item.start, item.end, content_type)


def _content_type(headers: PartHeaders, default: str) -> str:
    if headers.get("content-type") is None:
        return default
    try:
        found = headers.get_content_type()
    except Exception:
        return "text/plain"
    # compat32 reads a malformed Content-Type as text/plain, as RFC 2045 says.
    return found


def _children(item: _Pending, content_type: str) -> list[_Pending] | None:
    try:
        boundary = item.headers.get_boundary()
    except Exception:
        boundary = None
    if not boundary:
        return None
    encoded = boundary.encode("utf-8", "surrogateescape")
    ranges = delimited(item.buffer, item.start, item.end, encoded)
    if ranges is None:
        return None
    default = "message/rfc822" if content_type == "multipart/digest" else "text/plain"
    children = []
    for start, end in ranges:
        headers, body = header_block(item.buffer, start, end)
        children.append(_Pending(headers, item.buffer, body, end, item.depth + 1, default))
    return children


def _nested(item: _Pending) -> _Pending:
    buffer, start, end = item.buffer, item.start, item.end
    encoding = str(item.headers.get("content-transfer-encoding", "")).strip().lower()
    if encoding in ("base64", "quoted-printable"):
        buffer = decode_transfer(bytes(buffer[start:end]), item.headers)
        start, end = 0, len(buffer)
    headers, body = header_block(buffer, start, end)
    return _Pending(headers, buffer, body, end, item.depth + 1)


def delimited(buffer: Buffer, start: int, end: int, boundary: bytes) -> list[tuple[int, int]] | None:
    """The ranges between delimiter lines (preamble and epilogue left out); None when the
    boundary never occurs."""
    marker = b"--" + boundary
    ranges: list[tuple[int, int]] = []
    opened: int | None = None  # where the current part's content starts
    pos = start
    while len(ranges) <= MAX_PARTS:
        if pos == start and buffer[start:start + len(marker)] == marker:
            line = start
        else:
            found = buffer.find(b"\n" + marker, pos, end)
            if found == -1:
                break
            line = found + 1
        after = line + len(marker)
        closing, next_line = _delimiter_rest(buffer, after, end)
        if next_line is None:
            pos = after
            continue
        if opened is not None:
            ranges.append((opened, _line_end_before(buffer, line, opened)))
        if closing:
            return ranges
        opened = next_line
        pos = next_line
    if opened is None:
        return None
    ranges.append((opened, end))
    return ranges


def _delimiter_rest(buffer: Buffer, after: int, end: int) -> tuple[bool, int | None]:
    """After ``--boundary``: whether it closes, and where the next line starts (None: not a
    delimiter, the line goes on with other characters)."""
    newline = buffer.find(b"\n", after, min(end, after + _MAX_DELIMITER_LINE))
    stop = end if newline == -1 else newline
    if newline == -1 and end - after > _MAX_DELIMITER_LINE:
        return False, None
    rest = bytes(buffer[after:stop])
    closing = rest.startswith(b"--")
    if rest[2 if closing else 0:].strip(b" \t\r"):
        return False, None
    return closing, stop if newline == -1 else newline + 1


def _line_end_before(buffer: Buffer, line: int, floor: int) -> int:
    """The end of a part's content: the line break before a delimiter belongs to it."""
    end = line - 1 if line > floor and buffer[line - 1:line] == b"\n" else line
    if end > floor and buffer[end - 1:end] == b"\r":
        end -= 1
    return max(end, floor)


def header_block(buffer: Buffer, start: int, end: int) -> tuple[PartHeaders, int]:
    """A part's headers and where its content starts.

    The header section ends at an empty line, or (as in the stdlib and in clients) at the
    first line that is not a header field. One longer than ``MAX_HEADER_BLOCK`` is no
    header section: the whole range is then content, read as text.
    """
    pos = start
    limit = min(end, start + MAX_HEADER_BLOCK)
    body = None
    while pos < limit:
        newline = buffer.find(b"\n", pos, limit)
        line = bytes(buffer[pos:newline if newline != -1 else limit])
        if line in (b"", b"\r"):
            body = newline + 1 if newline != -1 else limit
            break
        if not (line[:1] in (b" ", b"\t") and pos > start) and not _HEADER_LINE.match(line):
            body = pos
            break
        if newline == -1:
            body = limit if limit == end else None
            break
        pos = newline + 1
    else:
        body = pos if pos >= end else None
    if body is None:
        return PartHeaders(), start
    head = bytes(buffer[start:body])
    try:
        return _PARSER.parsebytes(head), body
    except Exception:
        return PartHeaders(), body
