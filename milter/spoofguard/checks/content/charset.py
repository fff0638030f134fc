"""Bytes of a text part to text: the declared charset when it fits, else a guess.

Mail declares charsets wrongly, or not at all, as often as not; a wrong guess garbles a
message, a refusal loses it. So the declared charset is tried first (and its common
supersets), UTF-8 next, charset-normalizer's detection last, and what still does not decode
is replaced, never raised. Each fallback leaves a note for the report.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["decode_bytes"]

_DETECT_SAMPLE = 64 * 1024  # bytes given to charset detection
# Codecs that are registered as text encodings but are not mail charsets: they raise on
# ordinary bytes or interpret backslashes.
_NOT_CHARSETS = {"idna", "punycode", "undefined", "unicode_escape", "raw_unicode_escape"}
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "euc_kr": "cp949", "shift_jis": "cp932"}


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
