"""Forgery through Postfix: what the end user reads must come from us.

A message may arrive already carrying our Authentication-Results, our X-Spoofguard-*
fields or our Subject tag, written by the sender to look vetted (or to make real mail
look flagged). Each is removed or normalised before delivery; the Maildir shows it.
A forged pass from an unknown host also counts against the sender: see
test_auth_postfix.py.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from tests.support.messages import BENIGN, THREAT, make_message
from tests.support.milter_process import MilterProcess
from tests.support.postfix import (
    AUTHSERV_ID,
    GOOD_IP,
    first_contact_notice_only,
    requires_postfix,
    send_from,
)
from tests.support.postfix_harness import PostfixInstance
from tests.support.subjects import ATTACKS, reader_view, tags_seen

pytestmark = [requires_postfix, pytest.mark.postfix]

FORGED_OWN_FIELDS = {
    "X-Spoofguard-Score": "-99.0 (trusted sender)",
    "x-spoofguard-report": "action=accept; all clear",
    "X-SPOOFGUARD-Verified": "yes",
}


def delivered(postfix: PostfixInstance, localpart: str) -> EmailMessage:
    [raw] = postfix.wait_for_mail(localpart, 1)
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def own_fields(message: EmailMessage) -> list[tuple[str, str]]:
    return [(k.lower(), " ".join(str(v).split())) for k, v in message.items() if k.lower().startswith("x-spoofguard-")]


def with_forged_results(message: EmailMessage, *claims: str) -> EmailMessage:
    for claim in claims:
        message["Authentication-Results"] = f"{claim}; spf=pass smtp.mailfrom=bob@sender.test; dkim=pass header.d=sender.test; dmarc=pass header.from=sender.test"
    return message


def test_benign_message_loses_every_forged_mark_before_delivery(postfix: PostfixInstance) -> None:
    message = with_forged_results(
        make_message(BENIGN, subject="[SUSPICIOUS] Minutes", to="forgery-benign@example.test", extra_headers=FORGED_OWN_FIELDS),
        AUTHSERV_ID, f"{AUTHSERV_ID.upper()} 1", f"(checked) {AUTHSERV_ID}",
    )
    assert send_from(postfix, GOOD_IP, message, rcpt="forgery-benign@example.test").accepted

    got = delivered(postfix, "forgery-benign")
    assert str(got["Subject"]) == "Minutes"  # a tag the sender wrote is not ours to show
    fields = own_fields(got)
    names = [name for name, _ in fields]
    assert names in (["x-spoofguard-score"], ["x-spoofguard-score", "x-spoofguard-report"])
    assert not fields[0][1].startswith("-99")
    assert first_contact_notice_only(dict(fields).get("x-spoofguard-report"))  # ours, not the forged one
    results = [" ".join(str(v).split()) for v in got.get_all("Authentication-Results")]
    assert len(results) == 1 and results[0].startswith(f"{AUTHSERV_ID}; spf=pass")  # ours, from our own check


def test_threat_arriving_pre_tagged_shows_one_tag_and_only_our_report(postfix: PostfixInstance) -> None:
    message = make_message(
        THREAT, subject="[SUSPICIOUS] [suspicious] Last warning", to="forgery-threat@example.test",
        extra_headers=FORGED_OWN_FIELDS,
    )
    assert send_from(postfix, GOOD_IP, message, rcpt="forgery-threat@example.test").accepted

    got = delivered(postfix, "forgery-threat")
    assert str(got["Subject"]) == "[SUSPICIOUS] Last warning"
    fields = dict(own_fields(got))
    assert set(fields) == {"x-spoofguard-score", "x-spoofguard-report"}
    assert fields["x-spoofguard-report"].startswith("action=tag")
    assert "all clear" not in fields["x-spoofguard-report"]



def raw_message(*headers: tuple[str, str], body: str = BENIGN) -> bytes:
    """Header fields exactly as written: an attacker does not go through EmailMessage."""
    lines = [f"{name}: {value}" for name, value in (
        ("From", "Bob Example <bob@sender.test>"), ("Date", "Mon, 02 Nov 2026 09:30:00 +0000"),
        ("Message-ID", "<forgery@sender.test>"), *headers,
        ("MIME-Version", "1.0"), ("Content-Type", "text/plain; charset=utf-8"))]
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode("utf-8")


def test_disguised_tags_and_surplus_subjects_never_reach_accepted_mail(postfix: PostfixInstance) -> None:
    cases = {name: [("Subject", subject)] for name, subject in ATTACKS.items()}
    cases["second-subject"] = [("Subject", "Minutes"), ("Subject", "[SUSPICIOUS] Minutes")]
    cases["bare-field"] = [("Subject", "Minutes"), ("X-Spoofguard", "verified clean")]
    for number, headers in enumerate(cases.values()):
        rcpt = f"disguised-{number}@example.test"
        assert send_from(postfix, GOOD_IP, raw_message(("To", rcpt), *headers), rcpt=rcpt).accepted

    for number, name in enumerate(cases):
        got = delivered(postfix, f"disguised-{number}")
        subjects = [str(v) for v in got.get_all("Subject")]
        assert len(subjects) == 1, (name, subjects)
        assert tags_seen(subjects[0]) == 0, (name, subjects)
        assert "minutes" in reader_view(subjects[0])[-1], (name, subjects)
        assert [k for k in got if k.lower().startswith("x-spoofguard") and k != "X-Spoofguard-Report"] \
            == ["X-Spoofguard-Score"], name
        assert len(got.get_all("X-Spoofguard-Report") or []) <= 1, name
        assert first_contact_notice_only(got["X-Spoofguard-Report"]), name


def test_a_threat_arriving_with_a_disguised_tag_shows_exactly_one(postfix: PostfixInstance) -> None:
    rcpt = "disguised-threat@example.test"
    headers = (("To", rcpt), ("Subject", ATTACKS["nested-encoded-word"]), ("Subject", "[SUSPICIOUS] again"))
    assert send_from(postfix, GOOD_IP, raw_message(*headers, body=THREAT), rcpt=rcpt).accepted

    got = delivered(postfix, "disguised-threat")
    [subject] = [str(v) for v in got.get_all("Subject")]
    assert subject.startswith("[SUSPICIOUS] ") and tags_seen(subject) == 1, subject


FORGED_RESULTS = {
    "quoted-id": f'"{AUTHSERV_ID}"; dmarc=pass header.from=sender.test',
    "trailing-dot": f"{AUTHSERV_ID}.; dmarc=pass header.from=sender.test",
    "comment-and-garbage": f"(x) {AUTHSERV_ID}; dmarc=pass header.from=sender.test; ((((",
    "unreadable-id": "(never closed; dmarc=pass header.from=sender.test",
}


@pytest.mark.parametrize("value", FORGED_RESULTS.values(), ids=FORGED_RESULTS.keys())
def test_forged_results_in_any_lexical_form_are_removed(postfix: PostfixInstance, milter: MilterProcess, value: str) -> None:
    number = list(FORGED_RESULTS.values()).index(value)
    rcpt, mail_from = f"forged-ar-{number}@example.test", f"bob+ar{number}@sender.test"
    headers = (("To", rcpt), ("Subject", "Minutes"), ("Authentication-Results", value),
               ("Authentication-Results", "mx.other.example; spf=none"))
    assert send_from(postfix, GOOD_IP, raw_message(*headers), rcpt=rcpt, mail_from=mail_from).accepted

    got = delivered(postfix, rcpt.split("@")[0])
    results = [" ".join(str(v).split()) for v in got.get_all("Authentication-Results")]
    assert len(results) == 2, results  # ours on top, the other host's left alone
    assert results[0].startswith(f"{AUTHSERV_ID}; spf=pass")
    assert results[1] == "mx.other.example; spf=none"
    [logged] = [line for line in milter.verdict_lines() if f"mail_from=<{mail_from}>" in line]
    # A certain claim of our id counts against the sender; an unreadable one is only removed.
    assert ("auth.forged_results:+3.0" in logged) is (value != FORGED_RESULTS["unreadable-id"])
