"""Extraction finds what a reader sees, whatever the encoding, and keeps hidden text apart."""

from __future__ import annotations

import base64
import quopri
import time

from spoofguard.checks.content.extract import MAX_PARTS, ExtractedText, TextLimits, extract
from spoofguard.message import Message
from tests.support.messages import message_text

RUSSIAN = "Мы знаем, где вы живёте. Заплатите, или мы опубликуем всё, что у нас есть."


def eml(body: bytes, content_type: str = "text/plain; charset=utf-8", extra: bytes = b"",
        subject: bytes = b"Hello", limits: TextLimits | None = None) -> ExtractedText:
    data = (
        b"From: Sender <sender@example.org>\r\nTo: you@example.net\r\nSubject: " + subject
        + b"\r\nMIME-Version: 1.0\r\nContent-Type: " + content_type.encode() + b"\r\n"
        + extra + b"\r\n" + body
    )
    return extract(Message.from_bytes(data), limits)


def multipart(*parts: bytes, kind: str = "mixed", boundary: str = "B") -> tuple[bytes, str]:
    b = boundary.encode()
    body = b"".join(b"--" + b + b"\r\n" + part + b"\r\n" for part in parts) + b"--" + b + b"--\r\n"
    return body, f'multipart/{kind}; boundary="{boundary}"'


def test_plain_text() -> None:
    found = eml(b"We know where you live.\r\n")
    assert "We know where you live." in found.body
    assert found.subject == "Hello"
    assert found.names == "Sender"
    assert found.hidden == "" and found.attachment_names == () and found.parts == 1


def test_html_is_rendered_without_head_script_or_style() -> None:
    found = eml(
        b"<html><head><title>T</title><style>p{x:y}</style></head><body><script>evil()</script>"
        b"<p>We know <b>where</b> you&nbsp;live.</p><p>Second<br>line</p></body></html>",
        "text/html; charset=utf-8",
    )
    assert "We know where you\u00a0live." in found.body
    assert "Second\nline" in found.body
    assert "evil" not in found.body and "x:y" not in found.body and "T" not in found.body.split()


def test_multipart_alternative_reads_both_in_order() -> None:
    body, ctype = multipart(
        b"Content-Type: text/plain\r\n\r\nplain version",
        b"Content-Type: text/html\r\n\r\n<p>html version</p>",
        kind="alternative",
    )
    found = eml(body, ctype)
    assert found.body.index("plain version") < found.body.index("html version")
    assert found.parts == 3


def test_base64_html_part() -> None:
    html = base64.encodebytes(b"<div>Send $1500 in <i>Bitcoin</i></div>")
    body, ctype = multipart(
        b"Content-Type: text/html; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\n" + html
    )
    assert "Send $1500 in Bitcoin" in eml(body, ctype).body


def test_quoted_printable() -> None:
    encoded = quopri.encodestring("Sabemos dónde vives. Tenemos toda tu información.".encode())
    found = eml(encoded, "text/plain; charset=utf-8", b"Content-Transfer-Encoding: quoted-printable\r\n")
    assert "Sabemos dónde vives. Tenemos toda tu información." in found.body


def test_iso_2022_jp_part() -> None:
    text = "あなたの住所を知っています"
    found = eml(text.encode("iso-2022-jp"), "text/plain; charset=ISO-2022-JP",
                b"Content-Transfer-Encoding: 7bit\r\n")
    assert text in found.body
    assert found.notes == ()


def test_windows_1251_declared() -> None:
    found = eml(RUSSIAN.encode("cp1251"), "text/plain; charset=windows-1251",
                b"Content-Transfer-Encoding: 8bit\r\n")
    assert RUSSIAN in found.body
    assert found.notes == ()


def test_windows_1251_undeclared_is_detected() -> None:
    found = eml(RUSSIAN.encode("cp1251"), "text/plain", b"Content-Transfer-Encoding: 8bit\r\n")
    assert RUSSIAN in found.body
    assert "undeclared charset read as windows-1251" in found.notes


def test_wrong_declared_charset_is_detected() -> None:
    found = eml(RUSSIAN.encode("cp1251"), "text/plain; charset=utf-8")
    assert RUSSIAN in found.body
    assert any("did not fit" in note for note in found.notes)


def test_unknown_charset_name_falls_back() -> None:
    found = eml("We know where you live. Ünïcode".encode(), "text/plain; charset=x-klingon")
    assert "We know where you live. Ünïcode" in found.body
    assert any("unknown charset 'x-klingon'" in note for note in found.notes)


def test_gb18030_and_gb2312_superset() -> None:
    text = "我们知道你住在哪里"
    assert text in eml(text.encode("gb18030"), "text/plain; charset=gb2312").body
    assert text in eml(text.encode("gb18030"), "text/plain; charset=GB18030").body


def test_rfc2047_subject_and_display_name_in_cyrillic() -> None:
    subject = "=?utf-8?b?" + base64.b64encode("Мы знаем где вы живёте".encode()).decode() + "?="
    name = "=?koi8-r?b?" + base64.b64encode("Иван Петров".encode("koi8-r")).decode() + "?="
    data = (f"From: {name} <x@example.org>\r\nReply-To: \"Boss\" <b@example.org>\r\n"
            f"Subject: {subject}\r\n\r\nhi\r\n").encode()
    found = extract(Message.from_bytes(data))
    assert found.subject == "Мы знаем где вы живёте"
    assert found.names.splitlines() == ["Иван Петров", "Boss"]


def test_malformed_encoded_words_do_not_raise() -> None:
    found = eml(b"hi", subject=b"=?utf-8?b?!!!notbase64?= =?x-unknown?q?abc?= =?utf-8?q?=ZZ?=")
    assert isinstance(found.subject, str)


def test_broken_base64_is_best_effort() -> None:
    good = base64.b64encode(b"We will publish everything unless you pay.").decode()
    broken = (good[:20] + "!!@@" + good[20:-2]).encode()  # junk inside, padding cut off
    found = eml(broken + b"\r\n===\r\n", "text/plain", b"Content-Transfer-Encoding: base64\r\n")
    assert "We will publish" in found.body
    assert isinstance(eml(b"!!!not base64@@@\r\n", "text/plain",
                          b"Content-Transfer-Encoding: base64\r\n").body, str)


def test_nested_message_text_and_subject_found() -> None:
    inner = (b"From: \"Inner Sender\" <i@example.org>\r\nSubject: We know where you live\r\n"
             b"Content-Type: text/html\r\n\r\n<p>Pay in bitcoin.</p>\r\n")
    body, ctype = multipart(
        b"Content-Type: text/plain\r\n\r\nForwarded below.",
        b"Content-Type: message/rfc822\r\n\r\n" + inner,
    )
    found = eml(body, ctype)
    assert "We know where you live" in found.body
    assert "Inner Sender" in found.body
    assert "Pay in bitcoin." in found.body
    assert found.subject == "Hello"
    assert "1 nested message" in found.notes


def test_hidden_html_goes_to_hidden_not_body() -> None:
    html = (
        b'<body><div style="display:none">invisible one</div>'
        b'<span style="font-size:0px">invisible two</span>'
        b'<p style="color:#FFFFFF">invisible three</p>'
        b'<table bgcolor="#000000"><tr><td><font color="black">invisible four</font></td></tr></table>'
        b'<div hidden>invisible five</div><template><p>invisible six</p></template>'
        b'<p style="visibility: hidden">invisible seven</p>'
        b'<p style="display:none">unclosed hidden<p>We will hurt you'
        b'<div style="color:white;background:#000">white on black is visible</div>'
        b'<noscript>noscript shows</noscript><img src="x" alt="pay now"></body>'
    )
    found = eml(html, "text/html")
    for n in ("one", "two", "three", "four", "five", "six", "seven"):
        assert f"invisible {n}" in found.hidden
        assert f"invisible {n}" not in found.body
    assert "unclosed hidden" in found.hidden
    for visible in ("We will hurt you", "white on black is visible", "noscript shows", "pay now"):
        assert visible in found.body
    assert any(note.startswith("hidden HTML text (") for note in found.notes)


def test_double_encoded_entities() -> None:
    found = eml(b"<p>&amp;#118;ote for him &amp;amp; else, fish &amp; chips</p>", "text/html")
    assert "vote for him" in found.body
    assert "double-encoded HTML entities" in found.notes
    single = eml(b"<p>fish &amp; chips</p>", "text/html")
    assert "fish & chips" in single.body and single.notes == ()


def test_attachment_names_rfc2231_and_encoded_words() -> None:
    body, ctype = multipart(
        b"Content-Type: text/plain\r\n\r\nsee attached",
        b"Content-Type: application/pdf\r\nContent-Disposition: attachment;"
        b" filename*=UTF-8''%D0%B4%D0%BE%D0%BA%D0%B0%D0%B7%D0%B0%D1%82%D0%B5%D0%BB%D1%8C%D1%81%D1%82%D0%B2%D0%B0.pdf"
        b"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=",
        b"Content-Type: application/zip; name=\"=?utf-8?q?fotos_m=C3=ADas.zip?=\"\r\n\r\nxx",
    )
    found = eml(body, ctype)
    assert found.attachment_names == ("доказательства.pdf", "fotos mías.zip")
    assert "JVBER" not in found.body


def test_thousand_nested_multiparts_return_and_note_the_limit() -> None:
    inner = b"Content-Type: text/plain\r\n\r\nWe will hurt you\r\n"
    for depth in range(1000):
        b = f"b{depth}".encode()
        inner = (b'Content-Type: multipart/mixed; boundary="' + b + b'"\r\n\r\n--' + b + b"\r\n"
                 + inner + b"\r\n--" + b + b"--\r\n")
    started = time.monotonic()
    found = extract(Message.from_bytes(b"Subject: deep\r\n" + inner))
    assert time.monotonic() - started < 5
    assert found.subject == "deep"
    assert any("MIME" in note for note in found.notes)
    assert "We will hurt you" in found.body  # the raw fallback still reads it


def test_many_parts_stop_at_the_limit() -> None:
    body, ctype = multipart(*[b"Content-Type: text/plain\r\n\r\npart" for _ in range(MAX_PARTS + 50)])
    found = eml(body, ctype)
    assert found.parts == MAX_PARTS
    assert any(str(MAX_PARTS) in note for note in found.notes)


def test_text_is_bounded_by_max_text_and_the_middle_is_named_unread() -> None:
    found = eml(b"a" * 2500 + b"b" * 2500, limits=TextLimits(max_text=1000))
    assert len(found.subject) + len(found.names) + len(found.body) <= 1000
    assert found.unread == ("the middle of text/plain part (5000 bytes)",)
    assert found.body.startswith("a") and found.body.endswith("b")  # start and end both read


def test_nul_bytes_and_8bit_junk_in_headers() -> None:
    data = (b"From: \"Bad\x00 \xff\xfe Name\" <a@example.org>\r\nSubject: Hi\x00 \xe9t\xe9 \x80\x81\r\n"
            b"Content-Type: text/plain; charset=\"\xff\x00\"\r\n\r\nWe know\x00 where you live\r\n")
    found = extract(Message.from_bytes(data))
    for text in (found.subject, found.names, found.body):
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogates left over from the 8-bit bytes
    assert "We know where you live" in found.body
    assert found.subject.startswith("Hi")


def test_message_text_keeps_subject_names_and_body() -> None:
    data = b'From: "Name Here" <a@example.org>\r\nSubject: Subj\r\n\r\nBody text\r\n'
    text = message_text(Message.from_bytes(data))
    assert text.splitlines()[:3] == ["Subj", "Name Here", "Body text"]
