"""The content check against disguised intimidation: what a reader sees is what counts,
however the sender encoded or disguised it; look-alike wallet strings do not."""

from __future__ import annotations

import base64
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spoofguard import config
from spoofguard.checks import Facts, Findings
from spoofguard.checks.content.check import ContentCheck, ContentSection
from spoofguard.checks.content.rules import load_rule_files
from spoofguard.lookups import LookupSession
from spoofguard.message import Message
from spoofguard.verdict import Signal, SignalKind

RULES = load_rule_files(config.load().rule_files())
CHECKS = {engine: ContentCheck(RULES, ContentSection(engine=engine)) for engine in ("python", "auto")}
KNOW = "content.knowledge"  # "we know where you live"
HARM = "content.harm"  # "we will come after you"
CHECK = CHECKS["auto"]
GENESIS = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"  # the Bitcoin genesis block's address


def run(message: Message, check: ContentCheck = CHECK) -> dict[str, Signal]:
    return {s.name: s for s in check.run(message, LookupSession(None, 5.0, 2.0), Facts()).signals}


def plain(body: str, subject: str = "Notice", charset: str = "utf-8", encoding: str | None = None) -> Message:
    data = body.encode(charset)
    cte = b""
    if encoding == "base64":
        data, cte = base64.encodebytes(data), b"Content-Transfer-Encoding: base64\r\n"
    head = (f"From: X <x@example.org>\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset={charset}\r\n").encode() + cte
    return Message.from_bytes(head + b"\r\n" + data)


@pytest.mark.parametrize("engine", ["python", "auto"])
@pytest.mark.parametrize(("body", "evasion", "move"), [
    ("Do it or we will c o m e  a f t e r  y o u.", "spaced-out letters", HARM),
    ("We know where you l.i.v.e and we will h-u-r-t y-o-u.", "punctuated letters", HARM),
    ("Wе knоw whеrе yоu livе.", "confusable characters", KNOW),  # Cyrillic е and о
    ("We kn\u200dow wh\u200cere you li\u200bve.", "zero-width characters", KNOW),
    ("We kn0w wh3re y0u l1ve.", "leetspeak", KNOW),
])
def test_disguised_threats_are_still_detected_and_the_disguise_counts(engine: str, body: str, evasion: str,
                                                                      move: str) -> None:
    found = run(plain(body), CHECKS[engine])
    assert found[move].score > 0
    assert evasion in found["content.evasion"].detail
    assert found["content.evasion"].score == 1.0 and found["content.evasion"].kind is SignalKind.CONTENT


def test_a_disguise_without_a_move_in_it_is_not_an_evasion() -> None:
    found = run(plain("We know where you live. Our spring s a l e starts today, 50% off!"))
    assert found[KNOW].score > 0
    assert "content.evasion" not in found


def test_evasion_alone_scores_nothing() -> None:
    found = run(plain("Our spring sale\u200b\u200c starts to\u200dday!"))
    assert "content.evasion" not in found or found["content.evasion"].score == 0.0
    assert sum(s.score for s in found.values()) == 0.0


def test_threat_in_a_base64_html_part_is_detected() -> None:
    message = EmailMessage()
    message["From"], message["Subject"] = "X <x@example.org>", "Notice"
    message.set_content("See the HTML version.")
    message.add_alternative("<p>We know <b>where</b> you live.</p>", subtype="html", cte="base64")
    assert run(Message.from_bytes(message.as_bytes()))[KNOW].score > 0


@pytest.mark.parametrize(("charset", "body"), [
    ("iso-2022-jp", "お知らせ。We know where you live. 支払ってください。"),
    ("windows-1251", "Внимание. Wе knоw whеrе yоu livе."),
])
def test_threats_in_legacy_charsets_are_detected(charset: str, body: str) -> None:
    assert run(plain(body, charset=charset))[KNOW].score > 0


def test_windows_1251_without_a_declared_charset_is_detected() -> None:
    raw = ("From: X <x@example.org>\r\nSubject: Hi\r\nContent-Type: text/plain\r\n\r\n"
           "Мы знаем, где ты живешь. We know where you live.\r\n").encode("windows-1251")
    assert run(Message.from_bytes(raw))[KNOW].score > 0


def test_checksum_valid_wallet_counts_and_a_mutated_one_does_not() -> None:
    claim = "I hacked your computer. "
    valid = run(plain(f"{claim}Transfer the amount to {GENESIS} today."))
    assert valid["content.channel"].score == 2.0
    assert "checksum-valid" in valid["content.channel"].detail
    mutated = run(plain(f"{claim}Transfer the amount to {GENESIS[:-1]}b today."))
    assert "content.channel" not in mutated
    for lookalike in ("0x" + "ab" * 20 + "ff", "d41d8cd98f00b204e9800998ecf8427e", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5"):
        assert "content.channel" not in run(plain(f"{claim}Reference {lookalike} attached."))


def test_a_wallet_alone_is_no_intimidation() -> None:
    found = run(plain(f"Donations welcome at {GENESIS}, thank you!"))
    assert sum(s.score for s in found.values()) == 0.0
    assert found["content.channel"].kind is SignalKind.INFO


def test_sextortion_with_wallet_deadline_and_claim_reaches_quarantine_level_content() -> None:
    body = (f"I have access to your device and I recorded you through your webcam. "
            f"Send $1500 in Bitcoin to {GENESIS}. You have 48 hours, or I will send the video to all your contacts.")
    found = run(plain(body, encoding="base64"))
    assert sum(s.score for s in found.values()) >= 8.0
    assert {"content.access", "content.recording", "content.payment", "content.channel", "content.deadline",
            "content.disclosure", "content.sextortion"} <= set(found)


def test_hidden_html_text_is_not_what_the_reader_sees() -> None:
    message = EmailMessage()
    message["From"], message["Subject"] = "Shop <news@shop.example>", "Weekly deals"
    message.set_content('<p>Fresh deals this week.</p><div style="display:none">we know where you live</div>', subtype="html")
    found = run(Message.from_bytes(message.as_bytes()))
    assert KNOW not in found
    assert "hidden HTML text" in found["content.extraction"].detail


def _leaf(text: str, charset: str, cte: str) -> EmailMessage:
    part = EmailMessage()
    try:
        part.set_content(text, charset=charset, cte=cte)
    except (UnicodeError, LookupError, ValueError):
        part.set_content(text.encode("utf-8", "replace"), maintype="text", subtype="plain", cte="base64")
    return part


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
_LEAVES = st.builds(_leaf, _TEXT, st.sampled_from(["utf-8", "windows-1251", "iso-2022-jp", "latin-1"]),
                    st.sampled_from(["base64", "quoted-printable", "8bit"]))


def _multipart(children: list[EmailMessage]) -> EmailMessage:
    parent = EmailMessage()
    parent.make_mixed()
    for child in children:
        parent.attach(child)
    return parent


_TREES = st.recursive(_LEAVES, lambda inner: st.lists(inner, min_size=1, max_size=4).map(_multipart), max_leaves=12)


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(_TREES)
def test_arbitrary_mime_trees_give_signals_never_exceptions(tree: EmailMessage) -> None:
    tree["Subject"] = "x"
    signals = CHECK.run(Message.from_bytes(tree.as_bytes()), LookupSession(None, 5.0, 2.0), Facts()).signals
    assert all(isinstance(s, Signal) for s in signals)


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_give_signals_never_exceptions(data: bytes) -> None:
    assert isinstance(CHECK.run(Message.from_bytes(data), LookupSession(None, 5.0, 2.0), Facts()), Findings)
