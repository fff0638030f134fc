"""How a mail client's reader sees a Subject, computed independently of spoofguard.

Decode every RFC 2047 layer as some client may, NFKC, drop invisible characters and
whitespace, fold case and the look-alike letters the attacks in the tests use, then read
past reply markers.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from email.header import decode_header, make_header

TAG = "[suspicious]"
LOOKALIKES = str.maketrans({"\u041e": "o", "\u043e": "o", "\u0405": "s", "\u0455": "s", "\u0435": "e", "\u0415": "e",
                            "\u0406": "i", "\u0456": "i", "\u0421": "c", "\u0441": "c", "\u3010": "[", "\u3011": "]"})
REPLY = re.compile(r"^(?:re|fwd?|aw|wg)(?:\[\d+\])?:")


def reader_view(value: str) -> list[str]:
    """Every way a client may show the Subject: decoded zero to three times."""
    views = [value]
    for _ in range(3):
        try:
            views.append(str(make_header(decode_header(views[-1]))))
        except Exception:
            break
    return [_normalised(v) for v in views]


def _normalised(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(LOOKALIKES).casefold()
    text = "".join(c for c in text if not c.isspace() and unicodedata.category(c) not in ("Cf", "Mn", "Cc"))
    while found := REPLY.match(text):
        text = text[found.end():]
    return text


def tags_seen(value: str) -> int:
    """How many tags lead the Subject in the reader's view that shows the most."""
    most = 0
    for view in reader_view(value):
        count = 0
        while view.startswith(TAG):
            view = _normalised(view[len(TAG):])
            count += 1
        most = max(most, count)
    return most


def b64(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


ATTACKS = {
    "nested-encoded-word": "[SUSPICIOUS] " + b64("[SUSPICIOUS] Minutes"),
    "two-layers": b64(b64("[SUSPICIOUS] Minutes")),
    "fullwidth-brackets": "\uff3bSUSPICIOUS\uff3d Minutes",
    "cyrillic-o": "[SUSPICI\u041eUS] Minutes",
    "cyrillic-s": "[\u0405USPICIOUS] Minutes",
    "zero-width-space": "\u200b[SUSPICIOUS] Minutes",
    "reply-prefix": "Re: [SUSPICIOUS] Minutes",
    "german-reply": "AW: WG: [suspicious] Minutes",
    "numbered-reply": "Re[2]: [SUSPICIOUS] Minutes",
    "lenticular-brackets": "\u3010SUSPICIOUS\u3011 Minutes",
    "spaced-letters": "[ S U S P I C I O U S ] Minutes",
    "tag-then-reply-then-tag": "[SUSPICIOUS] Re: [SUSPICIOUS] Minutes",
}
