"""plan(): the header changes, quarantine and SMTP replies a user and an admin see."""

from __future__ import annotations

import dataclasses
import re
from email.header import decode_header, make_header

import pytest

from spoofguard.actions import (
    REPORT_HEADER,
    SCORE_HEADER,
    ActionsSection,
    AddHeader,
    ChangeHeader,
    Deliver,
    Plan,
    Refuse,
    plan,
)
from spoofguard.message import Message
from spoofguard.policy import Policy, decide
from spoofguard.verdict import Action, Signal, SignalKind, Verdict

SETTINGS = ActionsSection()
PREFIX = "[SUSPICIOUS] "


def make_message(*headers: tuple[str, str], body: bytes = b"hello\r\n") -> Message:
    message = Message()
    for name, raw in headers:
        message.add_header(name, raw)
    message.add_body(body)
    return message


def verdict_for(signals: tuple[Signal, ...], policy: Policy | None = None, **extra: object) -> Verdict:
    policy = policy or Policy()
    decision = decide(policy, signals)
    return Verdict(
        action=decision.action,
        score=sum(s.score for s in signals),
        signals=signals,
        thresholds=policy.thresholds,
        reason=decision.reason,
        **extra,  # type: ignore[arg-type]
    )


def added(p: Plan, name: str) -> list[str]:
    return [c.value for c in p.header_changes if isinstance(c, AddHeader) and c.name == name]


def unfold(value: str) -> str:
    return value.replace("\n\t", " ")


THREAT = Signal("content.threat_of_harm", 4.0, "rule threat_of_harm.hurt_you matched 'we will hurt you'", SignalKind.CONTENT)
DEMAND = Signal("content.coercion_demand", 3.0, "rule coercion_demand.or_else matched 'or else'", SignalKind.CONTENT)
DENY = Signal("ip_reputation.local_deny", 6.0, "203.0.113.9 in local deny list (203.0.113.0/24)", SignalKind.SENDER_RISK)
QUIET = Signal("ip_reputation.fcrdns_pass", 0.0, "reverse confirmed", SignalKind.INFO)
UNKNOWN = Signal.unknown("auth.dmarc_temperror", "unknown for From a@example.org: _dmarc.example.org: timeout",
                         5.0, SignalKind.SENDER_RISK)


# -- accept ---------------------------------------------------------------------------------


def test_benign_message_only_gets_the_score_header() -> None:
    message = make_message(("Subject", "Lunch?"), ("From", "a@example.org"))
    p = plan(verdict_for((QUIET,)), message, SETTINGS)
    assert p.header_changes == (AddHeader(SCORE_HEADER, "0.0 (tag>=4.0 quarantine>=8.0)"),)
    assert isinstance(p, Deliver) and p.quarantine is None


def test_score_header_shows_reject_threshold_when_enabled() -> None:
    p = plan(verdict_for((Signal("x.y", 1.25, "d"),), Policy(reject_enabled=True, reject=15.0)), make_message(("Subject", "s")), SETTINGS)
    assert added(p, SCORE_HEADER) == ["1.2 (tag>=4.0 quarantine>=8.0 reject>=15.0)"]


def test_degraded_accept_adds_a_report_naming_the_error() -> None:
    p = plan(verdict_for((UNKNOWN,)), make_message(("Subject", "s")), SETTINGS)
    (report,) = added(p, REPORT_HEADER)
    assert "action=accept" in report
    assert "auth.dmarc_temperror=error" in unfold(report)
    assert all(c.name != "Subject" for c in p.header_changes)


# -- tag ------------------------------------------------------------------------------------


def test_tagged_message_gets_subject_prefix_once() -> None:
    message = make_message(("Subject", "Your account"), ("From", "a@example.org"))
    p = plan(verdict_for((THREAT,)), message, SETTINGS)
    subject = [c for c in p.header_changes if c.name == "Subject"]
    assert subject == [ChangeHeader("Subject", 1, "[SUSPICIOUS] Your account")]
    assert isinstance(p, Deliver) and p.quarantine is None


@pytest.mark.parametrize("raw", ["[SUSPICIOUS] Your account", "  [SUSPICIOUS] Your account"], ids=["plain", "leading-space"])
def test_subject_already_carrying_the_prefix_is_left_alone(raw: str) -> None:
    p = plan(verdict_for((THREAT,)), make_message(("Subject", raw)), SETTINGS)
    assert all(c.name != "Subject" for c in p.header_changes)
    assert added(p, REPORT_HEADER)  # still explained


def test_missing_subject_is_added_with_the_prefix() -> None:
    p = plan(verdict_for((THREAT,)), make_message(("From", "a@example.org")), SETTINGS)
    assert AddHeader("Subject", "[SUSPICIOUS]") in p.header_changes
    assert not [c for c in p.header_changes if isinstance(c, ChangeHeader) and c.name == "Subject"]


def test_a_second_subject_is_removed_and_the_first_prefixed() -> None:
    p = plan(verdict_for((THREAT,)), make_message(("Subject", "one"), ("Subject", "two")), SETTINGS)
    assert [c for c in p.header_changes if c.name == "Subject"] == [
        ChangeHeader("Subject", 2, ""), ChangeHeader("Subject", 1, "[SUSPICIOUS] one")]


def test_custom_prefix_is_used() -> None:
    p = plan(verdict_for((THREAT,)), make_message(("Subject", "hi")), ActionsSection(subject_prefix="***SPAM*** "))
    assert ChangeHeader("Subject", 1, "***SPAM*** hi") in p.header_changes


def test_encoded_subject_keeps_its_encoded_words_after_the_prefix() -> None:
    raw = "=?utf-8?q?Caf=C3=A9?="
    p = plan(verdict_for((THREAT,)), make_message(("Subject", raw)), SETTINGS)
    assert ChangeHeader("Subject", 1, PREFIX + raw) in p.header_changes


def test_report_lists_every_moving_signal_with_score_and_detail() -> None:
    signals = (THREAT, DEMAND, QUIET, UNKNOWN, Signal("ip_reputation.local_allow", -1.0, "203.0.113.9 allowed"))
    verdict = verdict_for(signals)
    assert verdict.action is Action.TAG
    p = plan(verdict, make_message(("Subject", "s")), SETTINGS)
    (report,) = added(p, REPORT_HEADER)
    flat = unfold(report)
    assert flat.startswith("action=tag; ")
    assert "content.threat_of_harm=+4.0 rule threat_of_harm.hurt_you matched 'we will hurt you'" in flat
    assert "content.coercion_demand=+3.0 rule coercion_demand.or_else matched 'or else'" in flat
    assert "ip_reputation.local_allow=-1.0 203.0.113.9 allowed" in flat
    assert "auth.dmarc_temperror=error unknown for From a@example.org: _dmarc.example.org: timeout" in flat
    assert "fcrdns_pass" not in flat  # zero-score context is not listed
    assert all(len(line) <= 78 for line in (f"{REPORT_HEADER}: " + report).split("\n\t"))


def test_report_names_text_left_unread_even_on_accepted_mail() -> None:
    unread = Signal("message.unscanned_text", 0.0, "text left unread: the rest of text/plain part (5000 bytes)")
    verdict = verdict_for((unread,))
    assert verdict.action is Action.ACCEPT
    (report,) = added(plan(verdict, make_message(("Subject", "s")), SETTINGS), REPORT_HEADER)
    assert "text left unread: the rest of text/plain part (5000 bytes)" in unfold(report)


def test_report_shortens_a_huge_detail_and_stays_7bit() -> None:
    long_detail = "é" + "x" * 1000
    verdict = verdict_for((Signal("content.threat_of_harm", 5.0, long_detail, SignalKind.CONTENT),))
    (report,) = added(plan(verdict, make_message(("Subject", "s")), SETTINGS), REPORT_HEADER)
    assert report.isascii()
    assert "x" * 1000 not in unfold(report).replace(" ", "")
    assert "\\u2026" in report  # the ellipsis, escaped
    assert "\\xe9" in report


def test_dry_run_report_says_what_would_have_happened() -> None:
    verdict = verdict_for((THREAT, DENY), dry_run=True)
    assert verdict.action is Action.QUARANTINE
    verdict = dataclasses.replace(verdict, action=Action.ACCEPT, intended_action=Action.QUARANTINE)
    p = plan(verdict, make_message(("Subject", "s")), SETTINGS)
    (report,) = added(p, REPORT_HEADER)
    assert report.startswith("action=accept (dry run: would quarantine)")
    assert p.quarantine is None
    assert all(c.name != "Subject" for c in p.header_changes)


# -- quarantine / reject / tempfail --------------------------------------------------------------


def test_quarantine_reason_names_the_signals() -> None:
    verdict = verdict_for((THREAT, DEMAND, DENY, QUIET))
    assert verdict.action is Action.QUARANTINE
    p = plan(verdict, make_message(("Subject", "Pay up")), SETTINGS)
    assert isinstance(p, Deliver)  # held by the MTA, not refused
    assert p.quarantine is not None
    assert "13.0" in p.quarantine
    for name in ("content.threat_of_harm", "content.coercion_demand", "ip_reputation.local_deny"):
        assert name in p.quarantine
    assert "fcrdns_pass" not in p.quarantine
    assert "\n" not in p.quarantine and "\r" not in p.quarantine
    assert ChangeHeader("Subject", 1, "[SUSPICIOUS] Pay up") in p.header_changes
    assert "action=quarantine" in added(p, REPORT_HEADER)[0]


def test_reject_is_a_550_571_reply_with_no_header_changes() -> None:
    message = make_message(("Subject", "Pay"), ("X-Spoofguard-Score", "forged"))
    verdict = verdict_for((THREAT, DEMAND, DENY, Signal("x.more", 5.0, "d")), Policy(reject_enabled=True, reject=15.0))
    assert verdict.action is Action.REJECT
    p = plan(verdict, message, SETTINGS)
    assert isinstance(p, Refuse)  # no header changes, nothing held
    assert (p.reply.code, p.reply.xcode) == ("550", "5.7.1")
    assert p.reply.permanent
    assert p.reply.text == SETTINGS.reject_reply


def test_reject_reply_text_cannot_span_lines() -> None:
    verdict = verdict_for((THREAT, DEMAND, DENY, Signal("x.more", 5.0, "d")), Policy(reject_enabled=True, reject=15.0))
    p = plan(verdict, make_message(), ActionsSection(reject_reply="No\r\n250 OK\x00"))
    assert isinstance(p, Refuse)
    assert p.reply.text == "No 250 OK"


def test_tempfail_is_a_451_reply_with_no_header_changes() -> None:
    # 7.5 tags; the unanswered sender-risk lookup could have made it a quarantine
    verdict = verdict_for((Signal("content.x", 7.5, "d", SignalKind.CONTENT), UNKNOWN), Policy(on_error="tempfail"))
    assert verdict.action is Action.TEMPFAIL
    p = plan(verdict, make_message(("Subject", "s")), SETTINGS)
    assert isinstance(p, Refuse)  # no header changes
    assert (p.reply.code, p.reply.xcode) == ("451", "4.7.1")
    assert not p.reply.permanent


# -- forged X-Spoofguard-* headers ------------------------------------------------------------


def apply_changes(headers: list[tuple[str, str]], p: Plan) -> list[tuple[str, str]]:
    """What an MTA does with the plan: index counts fields of that name, case-insensitively."""
    result = list(headers)
    for change in p.header_changes:
        if isinstance(change, AddHeader):
            result.append((change.name, change.value))
            continue
        positions = [i for i, (n, _) in enumerate(result) if n.lower() == change.name.lower()]
        if change.index > len(positions):
            if change.value:
                result.append((change.name, change.value))
            continue
        at = positions[change.index - 1]
        if change.value:
            result[at] = (result[at][0], change.value)
        else:
            del result[at]
    return result


def test_forged_spoofguard_headers_are_deleted_from_the_last_occurrence_back() -> None:
    headers = [
        ("X-Spoofguard-Report", "action=accept forged 1"),
        ("Subject", "hi"),
        ("X-SPOOFGUARD-Score", "-99 forged"),
        ("x-spoofguard-report", "forged 2"),
        ("From", "a@example.org"),
        ("X-Spoofguard-Score", "forged 3"),
        ("X-Spoofguard-Whatever", "forged 4"),
    ]
    message = make_message(*headers)
    p = plan(verdict_for((QUIET,)), message, SETTINGS)
    deletions = [c for c in p.header_changes if isinstance(c, ChangeHeader)]
    assert deletions == [
        ChangeHeader("X-Spoofguard-Whatever", 1, ""),
        ChangeHeader("X-Spoofguard-Score", 2, ""),
        ChangeHeader("x-spoofguard-report", 2, ""),
        ChangeHeader("X-SPOOFGUARD-Score", 1, ""),
        ChangeHeader("X-Spoofguard-Report", 1, ""),
    ]
    # deletions come before our own headers are added
    first_add = next(i for i, c in enumerate(p.header_changes) if isinstance(c, AddHeader))
    assert all(isinstance(c, ChangeHeader) for c in p.header_changes[:first_add])
    final = apply_changes(headers, p)
    assert final == [("Subject", "hi"), ("From", "a@example.org"), (SCORE_HEADER, "0.0 (tag>=4.0 quarantine>=8.0)")]


def test_forged_headers_are_removed_on_tagged_mail_too() -> None:
    headers = [("X-Spoofguard-Report", "all fine"), ("Subject", "hi"), ("X-Spoofguard-Report", "trust me")]
    p = plan(verdict_for((THREAT,)), make_message(*headers), SETTINGS)
    final = apply_changes(headers, p)
    reports = [v for n, v in final if n.lower() == "x-spoofguard-report"]
    assert len(reports) == 1 and reports[0].startswith("action=tag")
    assert ("Subject", "[SUSPICIOUS] hi") in final


def test_a_bare_x_spoofguard_field_is_deleted() -> None:
    headers = [("X-Spoofguard", "verified clean"), ("Subject", "hi")]
    final = apply_changes(headers, plan(verdict_for((QUIET,)), make_message(*headers), SETTINGS))
    assert [n for n, _ in final] == ["Subject", SCORE_HEADER]


def test_lookalike_header_names_are_not_deleted() -> None:
    message = make_message(("X-Spoofguardian", "keep"), ("X-Spam-Score", "keep"), ("Subject", "s"))
    p = plan(verdict_for((QUIET,)), message, SETTINGS)
    assert not [c for c in p.header_changes if isinstance(c, ChangeHeader)]


# -- injection ---------------------------------------------------------------------------------


NEW_LINE = re.compile(r"[\r\n](?!\t)|\r")


@pytest.mark.parametrize(
    "subject",
    ["hello\r\nBcc: x@evil", "hello\nBcc: x@evil", "hello\rBcc: x@evil", "hello\u2028Bcc: x@evil",
     "hello\x85Bcc: x@evil", "hello\r\n\r\nbody injected"],
    ids=["crlf", "lf", "cr", "lsep", "nel", "blank-line"],
)
def test_subject_injection_cannot_produce_a_new_header_line(subject: str) -> None:
    p = plan(verdict_for((THREAT,)), make_message(("Subject", subject)), SETTINGS)
    (change,) = [c for c in p.header_changes if c.name == "Subject"]
    assert not NEW_LINE.search(change.value), repr(change.value)
    assert "\u2028" not in change.value and "\x85" not in change.value
    assert change.value.replace("\n\t", " ").startswith("[SUSPICIOUS] hello ")


def test_signal_detail_injection_cannot_produce_a_new_header_line() -> None:
    evil = Signal("content.threat_of_harm", 5.0, "matched 'x'\r\nBcc: x@evil\r\n\r\nbody", SignalKind.CONTENT)
    p = plan(verdict_for((evil,)), make_message(("Subject", "s")), SETTINGS)
    for change in p.header_changes:
        assert not NEW_LINE.search(change.value), repr(change.value)


# -- a tag the sender wrote -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[SUSPICIOUS] Your invoice", "Your invoice"),
        ("[suspicious]   Your invoice", "Your invoice"),
        ("[SUSPICIOUS] [SUSPICIOUS] Your invoice", "Your invoice"),
        ("=?utf-8?q?=5BSUSPICIOUS=5D_Your_invoice?=", "Your invoice"),
        ("=?utf-8?q?=5BSUSPICIOUS=5D_Caf=C3=A9?=", "Café"),
        ("[SUSPICIOUS]", ""),
    ],
    ids=["plain", "lower-case", "twice", "encoded-word", "encoded-non-ascii", "only-the-tag"],
)
def test_accepted_message_loses_a_tag_it_arrived_with(raw: str, expected: str) -> None:
    p = plan(verdict_for((QUIET,)), make_message(("Subject", raw)), SETTINGS)
    [change] = [c for c in p.header_changes if c.name == "Subject"]
    assert isinstance(change, ChangeHeader) and change.index == 1
    assert change.value.isascii()  # re-encoded, not raw 8-bit
    assert str(make_header(decode_header(change.value))) == expected


@pytest.mark.parametrize("raw", ["Lunch?", "SUSPICIOUS activity", "Re: Why was this [SUSPICIOUS]?"])
def test_accepted_message_without_a_leading_tag_keeps_its_subject(raw: str) -> None:
    p = plan(verdict_for((QUIET,)), make_message(("Subject", raw)), SETTINGS)
    assert all(c.name != "Subject" for c in p.header_changes)


def test_tagged_message_that_arrived_tagged_twice_shows_one_tag() -> None:
    message = make_message(("Subject", "[SUSPICIOUS] [suspicious] Pay up"))
    p = plan(verdict_for((THREAT,)), message, SETTINGS)
    assert [c for c in p.header_changes if c.name == "Subject"] == [ChangeHeader("Subject", 1, "[SUSPICIOUS] Pay up")]


def test_an_empty_prefix_leaves_every_subject_alone() -> None:
    settings = ActionsSection(subject_prefix="")
    for signals in ((THREAT,), (QUIET,)):
        p = plan(verdict_for(signals), make_message(("Subject", "[SUSPICIOUS] x")), settings)
        assert all(c.name != "Subject" for c in p.header_changes)
