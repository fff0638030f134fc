"""Whatever arrives, extraction and folding return quickly and never raise."""

from __future__ import annotations

import base64
import quopri
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spoofguard.checks.content.extract import ExtractedText, TextLimits, extract
from spoofguard.checks.content.normalize import Folded, fold
from spoofguard.message import Message

SETTINGS = settings(
    max_examples=200,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CHARSETS = ["utf-8", "us-ascii", "iso-8859-1", "windows-1251", "koi8-r", "iso-2022-jp",
            "gb18030", "gb2312", "shift_jis", "utf-16", "utf-7", "idna", "punycode",
            "x-unknown", "", '"utf-8', "\xff"]
ENCODINGS = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "bogus"]
WORDS = st.text(
    alphabet=st.sampled_from(list("ab z01$@.-_ \u200b\u202e\u0430\u0435éñ<>&;#/\"=\n\x00")),
    max_size=60,
)


def _encode(payload: bytes, cte: str) -> bytes:
    if cte == "base64":
        return base64.encodebytes(payload)
    if cte == "quoted-printable":
        return quopri.encodestring(payload)
    return payload


@st.composite
def leaf(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["text/plain", "text/html", "application/octet-stream"]))
    charset = draw(st.sampled_from(CHARSETS))
    cte = draw(st.sampled_from(ENCODINGS))
    text = draw(WORDS)
    if kind == "text/html":
        text = draw(st.sampled_from(["<p style='display:none'>", "<div>", "<b>", "&amp;#118;", ""])) + text
    try:
        payload = text.encode(charset or "utf-8", "replace")
    except (LookupError, UnicodeError):
        payload = text.encode("utf-8", "surrogateescape")
    if draw(st.booleans()):
        payload += draw(st.binary(max_size=20))
    filename = draw(st.sampled_from(["", "; name=\"=?utf-8?q?a=C3=A9?=\"", "; name*=UTF-8''%D0%B4"]))
    header = f"Content-Type: {kind}; charset={charset}{filename}\r\nContent-Transfer-Encoding: {cte}\r\n"
    return header.encode("utf-8", "surrogateescape") + b"\r\n" + _encode(payload, cte)


def _container(children: list[bytes], kind: str, boundary: str) -> bytes:
    if kind == "message/rfc822":
        inner = children[0] if children else b"\r\n"
        return b"Content-Type: message/rfc822\r\n\r\nSubject: inner =?utf-8?q?s=C3=A9?=\r\n" + inner
    b = boundary.encode()
    body = b"".join(b"--" + b + b"\r\n" + child + b"\r\n" for child in children)
    close = b"--" + b + b"--\r\n" if boundary != "unterminated" else b""
    return f'Content-Type: {kind}; boundary="{boundary}"\r\n\r\n'.encode() + body + close


@st.composite
def container(draw: st.DrawFn, children: st.SearchStrategy[bytes]) -> bytes:
    kind = draw(st.sampled_from(["multipart/mixed", "multipart/alternative", "message/rfc822",
                                 "multipart/related"]))
    boundary = draw(st.sampled_from(["b1", "b2", "same", "unterminated"])) + str(draw(st.integers(0, 9)))
    return _container(draw(st.lists(children, max_size=4)), kind, boundary)


MIME_TREE = st.recursive(leaf(), lambda inner: container(inner), max_leaves=12)


def _check(message: Message) -> None:
    started = time.perf_counter()
    extracted = extract(message)
    assert isinstance(extracted, ExtractedText)
    for text in (extracted.subject, extracted.names, extracted.body, extracted.hidden):
        folded = fold(text)
        assert isinstance(folded, Folded)
        text.encode("utf-8")
    assert len(extracted.body) + len(extracted.hidden) <= TextLimits().max_text + 16
    assert time.perf_counter() - started < 2.0


@SETTINGS
@given(st.binary(max_size=4000))
def test_arbitrary_bytes(data: bytes) -> None:
    _check(Message.from_bytes(data))


@SETTINGS
@given(MIME_TREE, st.sampled_from([b"", b"=?utf-8?b?0JzRiw==?=", b"=?bad?x?\xff?=", b"\xff\x00"]))
def test_arbitrary_mime_trees(tree: bytes, subject: bytes) -> None:
    _check(Message.from_bytes(b"From: =?utf-8?q?A=C3=A9?= <a@b.c>\r\nSubject: " + subject + b"\r\n" + tree))


@settings(max_examples=20, deadline=4000)
@given(st.integers(1, 400), st.sampled_from(["multipart/mixed", "message/rfc822"]))
def test_deep_nesting(depth: int, kind: str) -> None:
    tree = b"Content-Type: text/plain\r\n\r\nbottom text\r\n"
    for level in range(depth):
        tree = _container([tree], kind, f"d{level}")
    _check(Message.from_bytes(b"Subject: deep\r\n" + tree))


@SETTINGS
@given(st.text(max_size=3000))
def test_fold_any_text(text: str) -> None:
    folded = fold(text)
    assert folded.plain == fold(text).plain
    assert len(folded.evasions) == len(set(folded.evasions))
