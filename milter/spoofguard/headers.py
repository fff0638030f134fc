"""Safe header values: nothing from the message may inject a line or a control character.

Text we write (reports) is made 7-bit ASCII, with anything else shown as a ``\\u`` escape
so a homoglyph trick stays visible. Text we pass on (the Subject we prefix) keeps its bytes
but loses CR, LF and other controls. Everything is folded at spaces to 78 columns, and a
run longer than ``HARD_LIMIT`` without a space is split so no line breaks RFC 5322's 998.
"""

from __future__ import annotations

import re

WIDTH = 78
HARD_LIMIT = 900
_FOLDING = re.compile(r"\r?\n(?=[ \t])")
# C0 and C1 controls, DEL, line/paragraph separators: none may reach a header.
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r"[ \t]+")


def clean(text: str) -> str:
    """Unfold, turn every control character into a space, and collapse runs of spaces."""
    text = _FOLDING.sub("", text)
    text = _CONTROLS.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def ascii_text(text: str) -> str:
    """Clean and escape non-ASCII (``\\xe9``, ``\\u0430``) so the value is 7-bit and still
    shows what was there."""
    cleaned = clean(text)
    if cleaned.isascii():
        return cleaned
    return cleaned.encode("ascii", "backslashreplace").decode("ascii")


def fold(name: str, value: str, width: int = WIDTH) -> str:
    """Fold a cleaned value at spaces; continuation lines start with a tab."""
    words = value.split(" ")
    lines: list[str] = []
    current = ""
    room = width - len(name) - 2
    for word in words:
        while _octets(word) > HARD_LIMIT:
            if current:
                lines.append(current)
                current = ""
            head = _prefix_within(word, HARD_LIMIT)
            lines.append(head)
            word = word[len(head) :]
        candidate = f"{current} {word}" if current else word
        if current and _octets(candidate) > room:
            lines.append(current)
            current = word
            room = width - 1
        else:
            current = candidate
    if current or not lines:
        lines.append(current)
    return "\n\t".join(lines)


def header_value(name: str, text: str, *, ascii_only: bool = True) -> str:
    """The one way spoofguard makes a header value from any text."""
    return fold(name, ascii_text(text) if ascii_only else clean(text))


def _octets(text: str) -> int:
    """Line limits are in octets on the wire, where non-ASCII text is UTF-8."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogateescape"))


def _prefix_within(word: str, limit: int) -> str:
    """The longest prefix of ``word`` that fits in ``limit`` octets (at least one character)."""
    used = 0
    for index, char in enumerate(word):
        used += _octets(char)
        if used > limit:
            return word[: max(index, 1)]
    return word
