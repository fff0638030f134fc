"""Content-Transfer-Encoding undone as clients undo it: leniently.

The stdlib compares the header value as written, so ``base64 `` (trailing space) or
``Base64 (yes)`` is left encoded, and the scan reads base64 letters while the client
shows the decoded threat. Here the value is normalised first (comments removed,
whitespace stripped, case folded), base64 tolerates junk and missing padding, and
quoted-printable takes a soft line break followed by whitespace (RFC 2045 transport
padding) as the soft break it is.
"""

from __future__ import annotations

import binascii
import re
from email.message import Message as PartHeaders

__all__ = ["align_base64_tail", "decode_transfer", "transfer_encoding"]

_COMMENT = re.compile(r"\([^()]*\)")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]+")
_PADDED_SOFT_BREAK = re.compile(rb"=[ \t]+(?=\r?\n)")


def transfer_encoding(headers: PartHeaders) -> str:
    """The normalised encoding name: ``base64``, ``quoted-printable``, ``7bit``…"""
    value = str(headers.get("content-transfer-encoding", "") or "")
    while "(" in value and _COMMENT.search(value):
        value = _COMMENT.sub(" ", value)
    return value.strip().strip("\"'").strip().lower()


def decode_transfer(data: bytes, headers: PartHeaders) -> bytes:
    """Decode ``data`` per the part's encoding; unknown encodings are taken as 8bit."""
    encoding = transfer_encoding(headers)
    try:
        if encoding == "base64":
            return decode_base64(data)
        if encoding == "quoted-printable":
            return binascii.a2b_qp(_PADDED_SOFT_BREAK.sub(b"=", data))
    except (binascii.Error, ValueError):
        return data
    return data


def decode_base64(data: bytes) -> bytes:
    """Base64 with everything outside the alphabet skipped and padding restored."""
    letters = _NOT_BASE64.sub(b"", data)
    if len(letters) % 4 == 1:
        letters = letters[:-1]  # a lone trailing letter carries no whole byte
    return binascii.a2b_base64(letters + b"=" * (-len(letters) % 4))


def align_base64_tail(data: bytes) -> bytes:
    """The end of a base64 text cut to whole 4-letter quanta, counted back from its end:
    the padding says how many letters the last quantum lacks."""
    letters = _NOT_BASE64.sub(b"", data)
    stripped = data.rstrip()
    missing = 2 if stripped.endswith(b"==") else 1 if stripped.endswith(b"=") else 0
    return letters[(len(letters) + missing) % 4:]
