"""The Subject tag means spoofguard's verdict, never the sender's say-so.

A sender can write ``[SUSPICIOUS]`` into a Subject to make real mail look flagged, or
hide ours among copies, or pass it in a disguise a mail client shows as the tag. So every
leading tag is stripped, compared as a reader sees it: after RFC 2047 decoding (nested
layers too), NFKC, invisible characters removed and look-alike letters and brackets
mapped to ASCII, across reply and forward prefixes ("Re:", "AW:", "Fwd:"). Surplus Subject
fields go, so no client can show another one. What remains is re-encoded properly.
"""

from __future__ import annotations

import re
from email.header import Header

from .checks.content.normalize import skeleton
from .edits import AddHeader, ChangeHeader, HeaderEdit, deletions
from .headers import clean, header_value
from .message import Message, decode_header_value

# Reply and forward markers of common mail clients, as their skeletons.
REPLY_MARKERS = frozenset({"re", "fw", "fwd", "aw", "wg", "sv", "vs", "tr", "rv", "antw", "res", "enc", "odp", "ref"})
_REPLY_PREFIX = re.compile(r"([^\s:\uff1a\ufe55\[\]]{1,6})\s*(?:\[\d+\]|\(\d+\))?\s*[:\uff1a\ufe55]\s*")
# Brackets that read as square brackets but that NFKC leaves alone.
_BRACKETS = str.maketrans({c: "[" for c in "【〔〖〘〚⟦⦋⁅❲「『"} | {c: "]" for c in "】〕〗〙〛⟧⦌⁆❳」』"})
_DECODE_LAYERS = 4


def subject_edits(message: Message, prefix: str, *, tag: bool) -> list[HeaderEdit]:
    """The Subject changes for a verdict: exactly one tag when ``tag``, none otherwise.

    An empty prefix turns subject tagging off and leaves the Subject alone."""
    if not prefix.strip():
        return []
    subjects = message.header_all("Subject")
    if not subjects:
        return [AddHeader("Subject", prefix.strip())] if tag else []
    edits: list[HeaderEdit] = list(deletions([("Subject", i) for i in range(2, len(subjects) + 1)]))
    raw = clean(subjects[0].raw)
    rest, found = strip_tags(raw, prefix)
    if tag:
        value = prefix + (encode(rest) if found else raw)
    elif found:
        value = encode(rest)  # an empty value deletes a Subject that was only the tag
    else:
        value = raw
    if value.strip() != raw:
        edits.append(ChangeHeader("Subject", 1, header_value("Subject", value, ascii_only=False) if value.strip() else ""))
    return edits


def strip_tags(raw: str, prefix: str) -> tuple[str, bool]:
    """The decoded Subject without any leading tag, and whether one was there.

    Every decoding layer is looked at, as some client may stop at any of them; the text
    kept is the fully decoded one."""
    layers = decoded_layers(raw)
    want = _compact(prefix)
    found = False
    for layer in layers:
        rest, count = _strip(layer, want)
        found = found or count > 0
    return (rest, True) if found else (layers[-1], False)


def decoded_layers(raw: str) -> list[str]:
    """The Subject as written, decoded once, and decoded again while encoded words remain."""
    layers = [clean(raw)]
    for _ in range(_DECODE_LAYERS):
        decoded = clean(decode_header_value("Subject", layers[-1]))
        if decoded == layers[-1]:
            break
        layers.append(decoded)
    return layers


def starts_with_tag(text: str, prefix: str) -> bool:
    """Whether a reader would see the tag at the start of ``text`` (after reply markers)."""
    return _strip(text, _compact(prefix))[1] > 0


def encode(text: str) -> str:
    """``text`` as a header value: as it is when plain ASCII, else RFC 2047 encoded words
    (also when it contains ``=?``, which a client would otherwise decode once more)."""
    text = clean(text)
    if text.isascii() and "=?" not in text:
        return text
    return Header(text, "utf-8", maxlinelen=76).encode().replace("\n ", " ")


def _strip(text: str, want: str) -> tuple[str, int]:
    """``text`` without its leading tags, reply markers kept in front; how many tags."""
    markers: list[str] = []
    tags = 0
    while True:
        text = _lstrip_invisible(text)
        reply = _REPLY_PREFIX.match(text)
        if reply and skeleton(reply.group(1)) in REPLY_MARKERS:
            markers.append(reply.group(0).strip())
            text = text[reply.end():]
            continue
        length = _tag_length(text, want)
        if not length:
            break
        text = text[length:]
        tags += 1
    return " ".join([*markers, text]).strip(), tags


def _tag_length(text: str, want: str) -> int:
    """How many characters of ``text`` a reader takes for the tag (0: it does not start so)."""
    window = text[: 4 * len(want) + 16]
    if not want or not _compact(window).startswith(want):
        return 0
    for end in range(1, len(window) + 1):
        if _compact(window[:end]) == want:
            return end
    return 0


def _compact(text: str) -> str:
    """The skeleton without whitespace: "[ S U S P I C I O U S ]" reads as the tag."""
    return "".join(skeleton(text.translate(_BRACKETS)).split())


def _lstrip_invisible(text: str) -> str:
    start = 0
    while start < len(text) and (text[start].isspace() or not skeleton(text[start])):
        start += 1
    return text[start:]
