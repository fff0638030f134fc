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

from tests.integration.conftest import AUTHSERV_ID, GOOD_IP, requires_postfix, send_from
from tests.integration.postfix_harness import PostfixInstance
from tests.support.messages import BENIGN, THREAT, make_message

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
    assert [name for name, _ in fields] == ["x-spoofguard-score"]
    assert not fields[0][1].startswith("-99")
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

