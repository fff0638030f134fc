"""Message model: what the milter, the CLI and the checks all read."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spoofguard.checks.content.extract import extract
from spoofguard.message import BodyLimits, Envelope, Message

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


# -- body spool ------------------------------------------------------------------------


def limits(in_memory: int = 1024, max_body: int = 1 << 20) -> BodyLimits:
    return BodyLimits(in_memory=in_memory, max_body=max_body)


def test_body_past_memory_is_spooled_and_read_whole() -> None:
    body = b"A" * 1024 + b"B" * 4000
    message = Message.from_bytes(b"Subject: big\r\n\r\n" + body, limits=limits())
    assert message.body == b"A" * 1024  # what signatures are verified over
    assert message.beyond_memory is True and message.spool.spooled is True
    assert message.truncated is False  # nothing was dropped
    with message.body_view() as view:
        assert bytes(view[:]) == body
    message.close()


def test_body_exactly_in_memory_needs_no_spool_file() -> None:
    message = Message.from_bytes(b"Subject: x\r\n\r\n" + b"A" * 1024, limits=limits())
    assert message.beyond_memory is False and message.spool.spooled is False


def test_chunks_past_max_body_are_counted_but_not_kept() -> None:
    message = Message(envelope=Envelope(client_ip="192.0.2.1"), limits=limits(1000, 1500))
    for _ in range(4):
        message.add_body(b"x" * 1000)
    assert message.body_size == 4000
    assert message.scanned_bytes == 1500 and len(message.body) == 1000
    assert message.truncated is True
    with message.body_view() as view:
        assert len(view) == 1500


def test_a_spool_directory_that_cannot_be_written_keeps_the_head_and_says_so(tmp_path) -> None:
    missing = tmp_path / "gone"
    message = Message(limits=BodyLimits(in_memory=1024, spool_dir=str(missing)))
    message.add_body(b"A" * 3000)  # must not raise: the message is still judged
    assert message.spool.failed is True
    assert message.truncated is True and message.body == b"A" * 1024


def test_small_message_under_default_limits_is_kept_whole() -> None:
    message = Message.from_bytes(CRLF_MESSAGE)
    assert message.truncated is False and message.beyond_memory is False
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
    assert extract(message).body == ""  # reading a body-less message works too


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
    assert "body" in extract(message).body


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=80), body=st.binary(max_size=200))
def test_arbitrary_header_bytes_never_raise(junk: bytes, body: bytes) -> None:
    data = b"Subject: " + junk + b"\r\nX-" + junk + b": v\r\nFrom: " + junk + b"\r\n\r\n" + body
    message = Message.from_bytes(data)
    for header in message.headers:
        assert isinstance(header.value, str)
    message.header("Subject")
    assert isinstance(extract(message).body, str)  # must not raise either


# -- read through extraction ------------------------------------------------------------


def test_milter_headers_with_bare_lf_folding_still_give_the_charset() -> None:
    message = Message()
    message.add_header("Subject", "first\n\tsecond")
    message.add_header("Content-Type", "text/plain;\n charset=utf-8")
    message.add_body("héllo".encode())
    assert extract(message).body.startswith("héllo")
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
