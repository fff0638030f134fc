"""Shipped rules keep their promises, and the content check scores what a reader sees."""

from __future__ import annotations

import base64

import pytest

from spoofguard import config
from spoofguard.checks.content import ContentCheck, ContentSettings
from spoofguard.lookups import LookupSession
from spoofguard.message import Message
from spoofguard.rules import CATEGORIES, Rule, load_rule_files
from spoofguard.text import message_text
from spoofguard.verdict import Signal, SignalKind

SETTINGS = config.load()
SHIPPED_RULES: list[Rule] = load_rule_files(SETTINGS.rule_files())
BONUS = SETTINGS.checks.content.co_occurrence_bonus


def test_rules_are_shipped() -> None:
    assert len(SHIPPED_RULES) >= 5
    assert {r.category for r in SHIPPED_RULES} <= set(CATEGORIES)


@pytest.mark.parametrize("rule", SHIPPED_RULES, ids=[r.id for r in SHIPPED_RULES])
def test_shipped_rule_examples(rule: Rule) -> None:
    assert rule.example_failures() == []


# -- the content check ---------------------------------------------------------------------------


CHECK = ContentCheck(SHIPPED_RULES, ContentSettings(BONUS))
WEIGHT = {r.id: r.weight for r in SHIPPED_RULES}


def eml(body: bytes, subject: str = "Hello", content_type: str = "text/plain; charset=utf-8",
        extra: bytes = b"") -> Message:
    head = (
        f"From: Someone <someone@example.org>\r\nSubject: {subject}\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n"
    ).encode() + extra
    return Message.from_bytes(head + b"\r\n" + body)


def scan(message: Message) -> list[Signal]:
    return CHECK.run(message, LookupSession(None, budget=5.0, default_timeout=2.0))


def total(signals: list[Signal]) -> float:
    return sum(s.score for s in signals)


def scored(signals: list[Signal]) -> list[str]:
    """Names of the signals that move the score (not notes about how the text was read)."""
    return [s.name for s in signals if s.kind is not SignalKind.INFO]


@pytest.mark.parametrize("word", ["threat", "vote", "bitcoin", "deadline", "hours", "comply", "camera"])
def test_single_stray_word_scores_nothing(word: str) -> None:
    signals = scan(eml(f"Hi team,\r\nthe {word} item is on the agenda.\r\n".encode(), subject=word))
    assert signals == []


def test_newsletter_words_score_nothing() -> None:
    body = b"Bitcoin prices rose this week. Remember to vote on Election Day! Orders ship within 24 hours.\r\n"
    assert scan(eml(body)) == []


def test_repeating_a_threat_five_times_scores_the_same_as_once() -> None:
    phrase = "We will hurt your family. "
    once = scan(eml(phrase.encode()))
    five = scan(eml((phrase * 5).encode()))
    assert total(once) == WEIGHT["threat_of_harm.hurt_you"]
    assert total(five) == total(once)
    assert scored(five) == ["content.threat_of_harm"]


def test_several_phrasings_of_one_category_count_once_as_the_strongest() -> None:
    body = b"We will hurt your family. We know where you live. You will regret this.\r\n"
    signals = scan(eml(body))
    assert [s.name for s in signals] == ["content.threat_of_harm"]
    assert signals[0].score == max(WEIGHT["threat_of_harm.hurt_you"], WEIGHT["threat_of_harm.come_after_you"])
    assert "also" in signals[0].detail


def test_threat_coercion_deadline_score_more_than_their_weights() -> None:
    body = (
        b"We will hurt your family. If you don't comply, we will publish everything.\r\n"
        b"You have 48 hours to pay.\r\n"
    )
    signals = scan(eml(body))
    by_name = {s.name: s for s in signals}
    assert set(by_name) == {
        "content.threat_of_harm", "content.coercion_demand", "content.deadline_pressure", "content.co_occurrence",
    }
    weights = WEIGHT["threat_of_harm.hurt_you"] + WEIGHT["coercion_demand.or_else"] + WEIGHT["deadline_pressure.hours"]
    assert total(signals) > weights
    assert by_name["content.co_occurrence"].score == pytest.approx(2 * BONUS)
    assert all(s.kind is SignalKind.CONTENT for s in signals)


def test_zero_bonus_means_no_co_occurrence_lift() -> None:
    check = ContentCheck(SHIPPED_RULES, ContentSettings(0.0))
    body = b"We will hurt your family. You have 48 hours to pay.\r\n"
    signals = check.run(eml(body), LookupSession(None, 5.0, 2.0))
    assert total(signals) == WEIGHT["threat_of_harm.hurt_you"] + WEIGHT["deadline_pressure.hours"]


def test_max_score_covers_every_category_and_bonus() -> None:
    best: dict[str, float] = {}
    for rule in SHIPPED_RULES:
        best[rule.category] = max(best.get(rule.category, 0.0), rule.weight)
    best["extortion_payment"] = max(best["extortion_payment"], CHECK.settings.crypto_address_weight)
    evasion, unread = CHECK.settings.evasion_weight, CHECK.settings.unscanned_text_weight
    assert CHECK.max_score == pytest.approx(sum(best.values()) + BONUS * (len(best) - 1) + evasion + unread)


def test_subject_and_display_name_are_scanned() -> None:
    assert scored(scan(eml(b"nothing here\r\n", subject="We know where you live"))) == ["content.threat_of_harm"]
    message = Message.from_bytes(b'From: "I recorded you through your camera" <x@example.org>\r\n\r\nhi\r\n')
    assert scored(scan(message)) == ["content.surveillance_claim"]


def test_html_only_message_text_is_scanned() -> None:
    body = (
        b"<html><head><title>ignored</title><style>p{color:red}</style></head>"
        b"<body><p>We know <b>where</b> you&nbsp;live.</p></body></html>\r\n"
    )
    signals = scan(eml(body, content_type="text/html; charset=utf-8"))
    assert scored(signals) == ["content.threat_of_harm"]


def test_base64_text_part_is_scanned() -> None:
    body = base64.encodebytes("Tenemos toda tu información. Sabemos dónde vives.".encode())
    message = eml(body, extra=b"Content-Transfer-Encoding: base64\r\n")
    assert set(scored(scan(message))) == {"content.data_possession_claim", "content.threat_of_harm", "content.co_occurrence"}


def test_base64_html_part_inside_multipart_is_scanned() -> None:
    html = base64.encodebytes(b"<div>Send $1500 in <i>Bitcoin</i> to the address below.</div>")
    body = (
        b"--B\r\nContent-Type: text/plain\r\n\r\nPlease see the attachment.\r\n"
        b"--B\r\nContent-Type: text/html; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + html
        + b"--B\r\nContent-Type: image/png\r\n\r\nWe will hurt your family\r\n--B--\r\n"
    )
    signals = scan(eml(body, content_type='multipart/mixed; boundary="B"'))
    # the HTML part is read; the binary attachment is not text a reader sees
    assert scored(signals) == ["content.extortion_payment"]


def test_invisible_characters_and_fullwidth_letters_do_not_hide_a_phrase() -> None:
    body = "We know wh\u200bere you l\u00adive. ＷＥ ＷＩＬＬ ＨＵＲＴ ＹＯＵ.".encode()
    signals = scan(eml(body))
    assert scored(signals) == ["content.threat_of_harm", "content.evasion"]
    assert "also" in signals[0].detail  # both phrasings were found
    assert "zero-width characters" in signals[1].detail and signals[1].score == CHECK.settings.evasion_weight


@pytest.mark.parametrize("charset", ["x-unknown-charset", "utf-9", "klingon"])
def test_unknown_charset_does_not_raise_and_is_still_scanned(charset: str) -> None:
    message = eml(b"We know where you live. \xff\xfe\r\n", content_type=f"text/plain; charset={charset}")
    text = message_text(message)
    assert "We know where you live" in text
    assert scored(scan(message)) == ["content.threat_of_harm"]


def test_broken_base64_does_not_raise() -> None:
    message = eml(b"!!!not base64@@@\r\n===\r\n", extra=b"Content-Transfer-Encoding: base64\r\n")
    assert isinstance(message_text(message), str)
    scan(message)


@pytest.mark.parametrize("charset", ["idna", "undefined", "punycode"])
def test_codec_errors_for_odd_charsets_do_not_raise(charset: str) -> None:
    message = eml(b"We know where you live. \xff\r\n", content_type=f"text/plain; charset={charset}")
    assert scored(scan(message)) == ["content.threat_of_harm"]
