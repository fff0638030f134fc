"""Hostile messages for fuzzing, generated deterministically from a seed: broken and
deep MIME trees, NULs and 8-bit junk in headers, undeclared and bogus charsets, huge
bodies, a hundred thousand header lines, one-megabyte lines."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator

KINDS = ("mime_tree", "nul_headers", "junk_8bit", "deep_nesting", "huge_body", "many_headers",
         "long_line", "bad_encodings", "random_bytes")
_CHARSETS = ("utf-8", "iso-2022-jp", "windows-1251", "x-unknown", "utf-7", "idna", "", "utf-16")
_ENCODINGS = ("base64", "quoted-printable", "8bit", "x-uuencode", "bogus")


def _junk(rng: random.Random, size: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(size))


def _tree(rng: random.Random, depth: int) -> bytes:
    if depth <= 0 or rng.random() < 0.3:
        charset = rng.choice(_CHARSETS)
        cte = rng.choice(_ENCODINGS)
        payload = rng.choice([b"We know where you live.", _junk(rng, 200), "Мы знаем где ты живёшь".encode(), b"=ZZ=\xff"])
        if cte == "base64" and rng.random() < 0.7:
            payload = base64.encodebytes(payload)
        kind = rng.choice(["text/plain", "text/html", "application/octet-stream", "message/rfc822", "text/x-weird"])
        return (f"Content-Type: {kind}; charset={charset}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n").encode() + payload
    boundary = f"b{rng.getrandbits(32):x}"
    parts = b"".join(b"--" + boundary.encode() + b"\r\n" + _tree(rng, depth - 1) + b"\r\n" for _ in range(rng.randint(1, 4)))
    closing = b"--" + boundary.encode() + b"--\r\n" if rng.random() < 0.8 else b""  # sometimes never closed
    return f'Content-Type: multipart/{rng.choice(["mixed", "alternative", "related"])}; boundary="{boundary}"\r\n\r\n'.encode() + parts + closing


def hostile(kind: str, rng: random.Random) -> bytes:
    head = b"From: Someone <someone@example.org>\r\nTo: you@example.test\r\nSubject: notice\r\n"
    if kind == "mime_tree":
        return head + b"MIME-Version: 1.0\r\n" + _tree(rng, rng.randint(1, 6))
    if kind == "nul_headers":
        return b"From: A\x00B <a@\x00example.org>\r\nSubject: x\x00y\r\nX-\x00: \x00\r\n\r\nbody\x00\r\n"
    if kind == "junk_8bit":
        return b"From: " + _junk(rng, 40) + b"\r\nSubject: " + _junk(rng, 80) + b"\r\n" + _junk(rng, 30) + b": v\r\n\r\n" + _junk(rng, 500)
    if kind == "deep_nesting":
        depth = 1000
        opening = b"".join(f'Content-Type: multipart/mixed; boundary="n{i}"\r\n\r\n--n{i}\r\n'.encode() for i in range(depth))
        return head + opening + b"Content-Type: text/plain\r\n\r\nwe will come after you\r\n"
    if kind == "huge_body":
        return head + b"\r\n" + b"We know where you live. " * (50 * 1024 * 1024 // 24)
    if kind == "many_headers":
        return head + b"".join(b"X-H%d: v\r\n" % i for i in range(100_000)) + b"\r\nbody\r\n"
    if kind == "long_line":
        return head + b"Subject2: " + b"a" * (1024 * 1024) + b"\r\n\r\n" + b"b" * (1024 * 1024) + b"\r\n"
    if kind == "bad_encodings":
        subject = rng.choice([b"=?utf-8?b?!!!?=", b"=?x-bogus?q?=ZZ?=", b"=?utf-8?q?" + b"a" * 5000 + b"?=", b"=?=?=?"])
        return b"From: =?utf-8?b?****?= <x@example.org>\r\nSubject: " + subject + b"\r\nContent-Type: text/plain; charset=\"\r\n\r\n\xff\xfe\x00"
    return _junk(rng, rng.randint(0, 4000))


def hostile_messages(count: int, seed: int = 1) -> Iterator[tuple[str, bytes]]:
    """``count`` messages cycling through the kinds; the costly ones (50 MB bodies,
    100,000 header lines, 1 MB lines, 1,000 nested parts) a few times each."""
    rng = random.Random(seed)
    costly = {"huge_body", "many_headers", "long_line", "deep_nesting"}
    for number in range(count):
        kind = KINDS[number % len(KINDS)]
        if kind in costly and number // len(KINDS) >= 2:
            kind = "mime_tree"
        yield kind, hostile(kind, rng)
