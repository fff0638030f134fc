"""Shipped rules keep their promises, and the content check scores what a reader sees."""

from __future__ import annotations

import base64

import pytest

from spoofguard import config
from spoofguard.checks import Facts
from spoofguard.checks.content.check import ContentCheck, ContentSection
from spoofguard.checks.content.moves import example_failures
from spoofguard.checks.content.rules import CLAIMS, MOVES, PRESSURE, THREATS, Rule, load_rule_files
from spoofguard.lookups import LookupSession
from spoofguard.message import Message
from spoofguard.verdict import Signal, SignalKind
from tests.support.messages import message_text

SETTINGS = config.load()
CONTENT = SETTINGS.section(ContentSection)
SHIPPED = load_rule_files(SETTINGS.rule_files())
RULES: tuple[Rule, ...] = SHIPPED.rules
BONUS = CONTENT.co_occurrence_bonus
TAG = SETTINGS.policy.tag
LANGUAGES = {"en", "es", "de", "fr", "nl", "pt", "it"}
# Classes that exist for some languages only: ambiguous possessives and formal address.
PARTIAL_CLASSES = {"reader_weak", "formal_you"}


def test_every_move_has_rules() -> None:
    assert {r.move for r in RULES} == set(MOVES)


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_shipped_rule_examples(rule: Rule) -> None:
    assert example_failures(rule, SHIPPED.lexicon) == []


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_no_rule_reaches_the_tag_threshold_alone(rule: Rule) -> None:
    assert 0 < rule.weight < TAG


def test_every_word_class_speaks_every_language_the_rules_cover() -> None:
    text = (SETTINGS.rule_files()[0].parent / "words.toml").read_text(encoding="utf-8")
    import tomllib

    classes = tomllib.loads(text)["class"]
    for name, table in classes.items():
        if name in PARTIAL_CLASSES:
            continue
        assert set(table) - {"description"} == LANGUAGES, name


# -- the content check ---------------------------------------------------------------------------


CHECK = ContentCheck(SHIPPED, ContentSection(co_occurrence_bonus=BONUS, threat_bonus=CONTENT.threat_bonus))
WEIGHT = {r.id: r.weight for r in RULES}


def eml(body: bytes, subject: str = "Hello", content_type: str = "text/plain; charset=utf-8",
        extra: bytes = b"") -> Message:
    head = (
        f"From: Someone <someone@example.org>\r\nSubject: {subject}\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n"
    ).encode() + extra
    return Message.from_bytes(head + b"\r\n" + body)


def scan(message: Message) -> list[Signal]:
    return list(CHECK.run(message, LookupSession(None, budget=5.0, default_timeout=2.0), Facts()).signals)


def total(signals: list[Signal]) -> float:
    return sum(s.score for s in signals)


def scored(signals: list[Signal]) -> list[str]:
    """Names of the signals that move the score (not notes about how the text was read)."""
    return [s.name for s in signals if s.score]


@pytest.mark.parametrize("word", ["threat", "vote", "bitcoin", "deadline", "hours", "comply", "camera", "kill",
                                  "bomb", "hacked", "police", "video"])
def test_single_stray_word_scores_nothing(word: str) -> None:
    signals = scan(eml(f"Hi team,\r\nthe {word} item is on the agenda.\r\n".encode(), subject=word))
    assert total(signals) == 0


def test_newsletter_words_score_nothing() -> None:
    body = b"Bitcoin prices rose this week. Remember to vote on Election Day! Orders ship within 24 hours.\r\n"
    assert total(scan(eml(body))) == 0


def test_pressure_without_a_claim_or_threat_is_no_intimidation() -> None:
    body = b"You have 48 hours to pay $1,200 by bank transfer. If you don't pay, a late fee applies.\r\n"
    signals = scan(eml(body))
    assert total(signals) == 0
    assert {"content.payment", "content.deadline"} <= {s.name for s in signals}  # shown, weighing nothing
    assert all(s.kind is SignalKind.INFO for s in signals)


@pytest.mark.parametrize("body", [
    "Send 0.5 BTC to the wallet below within 48 hours. Do not contact the police.",
    "Pague 2.000 euros en bitcoin antes del viernes. Si no paga, lo lamentará.",
    "Überweisen Sie 1 BTC bis Montag. Die Polizei kann Ihnen nicht helfen.",
])
def test_a_ransom_demand_says_what_its_threat_does_not(body: str) -> None:
    # Untraceable payment, a deadline or a condition, silence: the threat was put in words
    # the rules do not know, the demand still shows it.
    signals = scan(eml(body.encode()))
    assert "content.ransom" in scored(signals)
    assert total(signals) >= TAG


def test_a_crypto_price_and_a_date_are_no_ransom() -> None:
    body = b"Bitcoin closed at $61,000 on Friday. Our exchange fee falls to 0.1% within 30 days.\r\n"
    assert "content.ransom" not in scored(scan(eml(body)))


def test_one_move_alone_stays_below_the_tag_threshold() -> None:
    signals = scan(eml(b"We know where you live.\r\n"))
    assert scored(signals) == ["content.knowledge"]
    assert 0 < total(signals) < TAG


def test_repeating_a_threat_five_times_scores_the_same_as_once() -> None:
    phrase = "We will hurt your family. "
    once = scan(eml(phrase.encode()))
    five = scan(eml((phrase * 5).encode()))
    assert total(once) == WEIGHT["harm.against_you"]
    assert total(five) == total(once)
    assert scored(five) == ["content.harm"]


def test_several_phrasings_of_one_move_count_once_as_the_strongest() -> None:
    body = b"We will hurt your family. You will regret this. Something bad will happen to you.\r\n"
    signals = scan(eml(body))
    assert scored(signals) == ["content.harm"]
    assert total(signals) == max(WEIGHT["harm.against_you"], WEIGHT["harm.menace"])


def test_moves_together_score_more_than_their_weights() -> None:
    body = (b"I recorded you through your webcam while you watched porn. "
            b"I will send the video to all your contacts. You have 48 hours.\r\n")
    signals = scan(eml(body))
    by_name = {s.name: s for s in signals}
    assert {"content.recording", "content.disclosure", "content.deadline", "content.sextortion"} <= set(by_name)
    moves = by_name["content.recording"].score + by_name["content.disclosure"].score + by_name["content.deadline"].score
    threat = CONTENT.threat_bonus  # a threat (disclosure) beside a claim and a deadline
    assert by_name["content.sextortion"].score == pytest.approx(2 * BONUS + threat)
    assert total(signals) == pytest.approx(moves + 2 * BONUS + threat)


def test_zero_bonuses_mean_no_lift() -> None:
    check = ContentCheck(SHIPPED, ContentSection(co_occurrence_bonus=0.0, threat_bonus=0.0))
    body = b"We will hurt your family. You have 48 hours to pay.\r\n"
    signals = check.run(eml(body), LookupSession(None, 5.0, 2.0), Facts()).signals
    assert total(signals) == WEIGHT["harm.against_you"] + WEIGHT["deadline.time_limit"] + WEIGHT["payment.time_to_pay"]


def test_each_move_names_the_rule_and_the_words_that_fired_it() -> None:
    signals = scan(eml(b"I hacked your computer. Pay 500 EUR in bitcoin.\r\n"))
    access = next(s for s in signals if s.name == "content.access")
    assert "access.hacked_device" in access.detail and "hacked your computer" in access.detail


def test_max_score_covers_every_move_and_bonus() -> None:
    best: dict[str, float] = {}
    for rule in RULES:
        best[rule.move] = max(best.get(rule.move, 0.0), rule.weight)
    best["channel"] = max(best["channel"], CHECK.settings.crypto_address_weight)
    evasion, unread = CHECK.settings.evasion_weight, CHECK.settings.unscanned_text_weight
    threat = CHECK.settings.threat_bonus
    assert CHECK.max_score == pytest.approx(sum(best.values()) + BONUS * (len(best) - 1) + threat + evasion + unread)


def test_subject_and_display_name_are_scanned() -> None:
    signals = scan(eml(b"I will send the video to all your contacts.\r\n", subject="We know where you live"))
    assert {"content.knowledge", "content.disclosure"} <= set(scored(signals))
    message = Message.from_bytes(b'From: "I recorded you through your camera while you watched porn" <x@example.org>\r\n'
                                 b'\r\nI will send the video to all your contacts.\r\n')
    assert {"content.recording", "content.disclosure"} <= set(scored(scan(message)))


def test_html_only_message_text_is_scanned() -> None:
    body = (
        b"<html><head><title>ignored</title><style>p{color:red}</style></head>"
        b"<body><p>We know <b>where</b> you&nbsp;live.</p></body></html>\r\n"
    )
    assert scored(scan(eml(body, content_type="text/html; charset=utf-8"))) == ["content.knowledge"]


def test_base64_text_part_is_scanned() -> None:
    body = base64.encodebytes("Tenemos toda tu información. Sabemos dónde vives.".encode())
    message = eml(body, extra=b"Content-Transfer-Encoding: base64\r\n")
    assert {"content.possession", "content.knowledge"} <= set(scored(scan(message)))


def test_binary_attachments_are_not_text_a_reader_sees() -> None:
    html = base64.encodebytes(b"<div>I hacked your computer. Send $1500 in <i>Bitcoin</i>.</div>")
    body = (
        b"--B\r\nContent-Type: text/plain\r\n\r\nPlease see the attachment.\r\n"
        b"--B\r\nContent-Type: text/html; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + html
        + b"--B\r\nContent-Type: image/png\r\n\r\nWe will hurt your family\r\n--B--\r\n"
    )
    names = set(scored(scan(eml(body, content_type='multipart/mixed; boundary="B"'))))
    assert {"content.access", "content.payment"} <= names
    assert "content.harm" not in names


def test_invisible_characters_and_fullwidth_letters_do_not_hide_a_threat() -> None:
    body = "We know wh\u200bere you l\u00adive. ＷＥ ＷＩＬＬ ＨＵＲＴ ＹＯＵ.".encode()
    signals = scan(eml(body))
    assert {"content.knowledge", "content.harm"} <= set(scored(signals))
    evasion = next(s for s in signals if s.name == "content.evasion")
    assert "zero-width characters" in evasion.detail and evasion.score == CHECK.settings.evasion_weight


@pytest.mark.parametrize("charset", ["x-unknown-charset", "utf-9", "klingon", "idna", "undefined", "punycode"])
def test_odd_charsets_do_not_raise_and_are_still_scanned(charset: str) -> None:
    message = eml(b"We know where you live. \xff\xfe\r\n", content_type=f"text/plain; charset={charset}")
    assert "We know where you live" in message_text(message)
    assert scored(scan(message)) == ["content.knowledge"]


def test_broken_base64_does_not_raise() -> None:
    message = eml(b"!!!not base64@@@\r\n===\r\n", extra=b"Content-Transfer-Encoding: base64\r\n")
    assert isinstance(message_text(message), str)
    scan(message)


def test_the_families_partition_the_moves() -> None:
    assert set(CLAIMS) | set(THREATS) | set(PRESSURE) == set(MOVES)
    assert not (set(CLAIMS) & set(THREATS) or set(THREATS) & set(PRESSURE) or set(CLAIMS) & set(PRESSURE))
