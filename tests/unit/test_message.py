"""Message model: what the milter, the CLI and the checks all read."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spoofguard.message import Envelope, Message

CRLF_MESSAGE = (
    b"Received: from a.example by mx.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    b"Received: from b.example by a.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    b"From: Alice <alice@example.org>\r\n"
    b"To: bob@example.net\r\n"
    b"Subject: Quarterly report\r\n"
    b"\r\n"
    b"Line one\r\n"
    b"Line two\r\n"
)


def names(message: Message) -> list[str]:
    return [h.name for h in message.headers]


# -- line endings --------------------------------------------------------------------


def test_crlf_message_splits_into_headers_and_body() -> None:
    message = Message.from_bytes(CRLF_MESSAGE)
    assert names(message) == ["Received", "Received", "From", "To", "Subject"]
    assert message.header("Subject") == "Quarterly report"
    assert message.body == b"Line one\r\nLine two\r\n"
    assert message.body_size == len(b"Line one\r\nLine two\r\n")


def test_bare_lf_message_reads_the_same_headers_as_crlf() -> None:
    lf = CRLF_MESSAGE.replace(b"\r\n", b"\n")
    crlf_message = Message.from_bytes(CRLF_MESSAGE)
    lf_message = Message.from_bytes(lf)
    assert [(h.name, h.value) for h in lf_message.headers] == [
        (h.name, h.value) for h in crlf_message.headers
    ]
    assert lf_message.body == b"Line one\nLine two\n"


def test_body_containing_a_blank_line_is_not_mistaken_for_the_header_end() -> None:
    data = b"Subject: one\r\n\r\nfirst paragraph\r\n\r\nX-Not-A-Header: body text\r\n"
    message = Message.from_bytes(data)
    assert names(message) == ["Subject"]
    assert b"X-Not-A-Header: body text" in message.body


def test_message_starting_with_a_blank_line_has_no_headers() -> None:
    message = Message.from_bytes(b"\r\nSubject: this is body text\r\n")
    assert message.headers == []
    assert message.body == b"Subject: this is body text\r\n"


# -- folding and encoded words ---------------------------------------------------------


def test_folded_header_is_unfolded_in_value_and_kept_folded_in_raw() -> None:
    data = b"Subject: Your account\r\n will be closed\r\n\ttoday\r\nTo: x@example.net\r\n\r\nbody"
    message = Message.from_bytes(data)
    assert names(message) == ["Subject", "To"]
    subject = message.headers[0]
    assert subject.value == "Your account will be closed\ttoday"
    # The raw value still carries the folding, as the MTA would pass it on.
    assert "\n will be closed" in subject.raw
    assert "\n\ttoday" in subject.raw


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_rfc2047_encoded_words_are_decoded(eol: bytes) -> None:
    data = eol.join(
        [
            b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <j@example.de>",
            b"Subject: =?utf-8?B?V2Uga25vdyB3aGVyZQ==?= you",
            b" =?iso-8859-1?Q?live_caf=E9?=",
            b"",
            b"body",
        ]
    )
    message = Message.from_bytes(data)
    assert message.header("Subject") == "We know where you live café"
    assert message.header("From") == "Jürgen Müller <j@example.de>"
    # raw keeps the encoded words: it is what a Subject change must start from
    assert message.headers[1].raw.startswith("=?utf-8?B?V2Uga25vdyB3aGVyZQ==?=")


def test_headers_keep_order_duplicates_and_raw_values() -> None:
    data = (
        b"X-First: 1\r\n"
        b"Received: hop two\r\n"
        b"Subject:   spaced   value  \r\n"
        b"received: hop one\r\n"
        b"X-Last:no-space\r\n"
        b"\r\n"
    )
    message = Message.from_bytes(data)
    assert [(h.name, h.raw) for h in message.headers] == [
        ("X-First", "1"),
        ("Received", "hop two"),
        ("Subject", "  spaced   value  "),
        ("received", "hop one"),
        ("X-Last", "no-space"),
    ]
    assert [h.raw for h in message.header_all("RECEIVED")] == ["hop two", "hop one"]
    assert message.header("x-first") == "1"
    assert message.header("Missing") is None


def test_lines_that_are_not_header_fields_are_skipped() -> None:
    data = b"From x@y Mon Jan 1\r\nSubject: ok\r\nno colon here\r\n: empty name\r\n\r\n"
    message = Message.from_bytes(data)
    assert [(h.name, h.raw) for h in message.headers] == [("Subject", "ok")]


# -- scan cap ---------------------------------------------------------------------------


def test_body_past_scan_cap_is_counted_but_not_kept() -> None:
    body = b"A" * 1024 + b"B" * 4000
    message = Message.from_bytes(b"Subject: big\r\n\r\n" + body, scan_cap=1024)
    assert message.body_size == len(body)
    assert message.body == b"A" * 1024
    assert message.scanned_bytes == 1024
    assert message.truncated is True
    assert b"B" not in bytes(message.parsed.get_payload(decode=True))


def test_body_exactly_at_scan_cap_is_not_truncated() -> None:
    message = Message.from_bytes(b"Subject: x\r\n\r\n" + b"A" * 2048, scan_cap=2048)
    assert message.body_size == 2048
    assert message.truncated is False


def test_chunks_from_the_milter_are_capped_across_calls() -> None:
    message = Message(envelope=Envelope(client_ip="192.0.2.1"), scan_cap=1500)
    for _ in range(4):
        message.add_body(b"x" * 1000)
    assert message.body_size == 4000
    assert len(message.body) == 1500
    assert message.truncated is True


def test_small_message_under_default_cap_is_kept_whole() -> None:
    message = Message.from_bytes(CRLF_MESSAGE)
    assert message.truncated is False
    assert message.scanned_bytes == message.body_size


# -- no body ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"Subject: only headers\r\nFrom: a@b\r\n", b"Subject: only headers\nFrom: a@b", b""],
    ids=["crlf-trailing", "lf-no-trailing", "empty"],
)
def test_message_without_blank_line_has_empty_body(data: bytes) -> None:
    message = Message.from_bytes(data)
    assert message.body == b""
    assert message.body_size == 0
    assert message.truncated is False
    if data:
        assert message.header("Subject") == "only headers"
        assert message.header("From") == "a@b"
    parsed = message.parsed  # parsing a body-less message works too
    assert parsed.get_payload() in ("", None)


# -- hostile header bytes ---------------------------------------------------------------


def test_nul_and_8bit_junk_in_headers_never_raise_and_keep_the_bytes() -> None:
    data = (
        b"Subject: \x00\xff\xfe\x80 pay now \x00\r\n"
        b"From: \xc3\x28 <x@\xffexample>\r\n"
        b"X-Enc: =?utf-8?B?////?= =?bogus?Q?=ZZ?= =?utf-8?q?\r\n"
        b"\r\n"
        b"body\r\n"
    )
    message = Message.from_bytes(data)
    assert names(message) == ["Subject", "From", "X-Enc"]
    subject = message.header("Subject")
    assert subject is not None and "pay now" in subject
    for header in message.headers:
        assert isinstance(header.value, str)
    # the original bytes survive a round trip through the raw value
    assert message.headers[0].raw.encode("utf-8", "surrogateescape") == b"\x00\xff\xfe\x80 pay now \x00"
    assert "body" in message.parsed.get_content()


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=80), body=st.binary(max_size=200))
def test_arbitrary_header_bytes_never_raise(junk: bytes, body: bytes) -> None:
    data = b"Subject: " + junk + b"\r\nX-" + junk + b": v\r\nFrom: " + junk + b"\r\n\r\n" + body
    message = Message.from_bytes(data)
    for header in message.headers:
        assert isinstance(header.value, str)
    message.header("Subject")
    assert message.parsed is not None  # must not raise either


# -- parsed -------------------------------------------------------------------------------


def test_parsed_gives_the_text_parts() -> None:
    data = (
        b"From: a@example.org\r\n"
        b"Subject: parts\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="BOUND"\r\n'
        b"\r\n"
        b"--BOUND\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n"
        b"\r\n"
        b"Plain caf=C3=A9 text\r\n"
        b"--BOUND\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n"
        b"\r\n"
        b"<p>Html text</p>\r\n"
        b"--BOUND--\r\n"
    )
    parsed = Message.from_bytes(data).parsed
    assert parsed.is_multipart()
    leaves = [p for p in parsed.walk() if not p.is_multipart()]
    assert [p.get_content_type() for p in leaves] == ["text/plain", "text/html"]
    assert "Plain café text" in leaves[0].get_content()
    assert "<p>Html text</p>" in leaves[1].get_content()
    assert parsed["Subject"] == "parts"


def test_parsed_sees_only_the_scanned_bytes() -> None:
    body = b"visible\r\n" + b"." * 2000 + b"HIDDEN-PAST-CAP"
    message = Message.from_bytes(b"Content-Type: text/plain\r\n\r\n" + body, scan_cap=1024)
    text = message.parsed.get_content()
    assert "visible" in text
    assert "HIDDEN-PAST-CAP" not in text


def test_parsed_from_milter_headers_with_bare_lf_folding() -> None:
    message = Message()
    message.add_header("Subject", "first\n\tsecond")
    message.add_header("Content-Type", "text/plain;\n charset=utf-8")
    message.add_body("héllo".encode())
    parsed = message.parsed
    assert parsed.get_content_charset() == "utf-8"
    assert parsed.get_content().startswith("héllo")
    assert message.header("Subject") == "first\tsecond"


# -- bug: header line splitting on non-CR/LF line boundaries -----------------------------


@pytest.mark.parametrize(
    "separator",
    [b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", "\u0085".encode(), "\u2028".encode(), "\u2029".encode()],
    ids=["VT", "FF", "FS", "GS", "RS", "NEL", "LSEP", "PSEP"],
)
def test_only_cr_and_lf_end_a_header_line(separator: bytes) -> None:
    data = b"Subject: hello" + separator + b"Bcc: victim@example.net\r\nTo: a@b\r\n\r\nbody"
    message = Message.from_bytes(data)
    assert names(message) == ["Subject", "To"]
    subject = message.header("Subject")
    assert subject is not None and "victim@example.net" in subject
