"""Authentication and impersonation end to end: real Postfix, the milter process, DNS on
loopback with SPF, DKIM and DMARC records for the test domains."""

from __future__ import annotations

import email
import email.policy

import pytest

from tests.support.dkim_keys import rsa_key, sign
from tests.support.messages import BENIGN, THREAT, make_message
from tests.support.postfix import AUTHSERV_ID, BAD_IP, GOOD_IP, requires_postfix, send_from
from tests.support.postfix_harness import PostfixInstance

pytestmark = [requires_postfix, pytest.mark.postfix]


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_unauthenticated_threat_from_the_recipients_own_address_is_held(postfix: PostfixInstance) -> None:
    """The extortion classic: "I sent this from your own account". The client host itself
    is clean (forward-confirmed reverse DNS), so the hold comes from authentication."""
    sent = make_message(THREAT, subject="Your account", sender="victim@example.test", to="victim@example.test")
    assert send_from(postfix, GOOD_IP, sent, rcpt="victim@example.test", mail_from="victim@example.test").accepted

    [entry] = postfix.wait_for_queue("hold", 1)
    queued = " ".join(postfix.postcat(entry["queue_id"]).split())
    assert "X-Spoofguard-Report: action=quarantine" in queued
    assert "impersonation.from_is_recipient=+3.0" in queued
    assert "auth.dmarc_fail_none=+1.5" in queued
    assert "ip_reputation" not in queued.split("X-Spoofguard-Report:", 1)[1].split("X-", 1)[0]
    assert f"Authentication-Results: {AUTHSERV_ID}; spf=none" in queued
    postfix.release_hold(entry["queue_id"])
    postfix.flush()
    postfix.wait_for_mail("victim", 1)


@pytest.mark.parametrize("client", [GOOD_IP, BAD_IP], ids=["clean-host", "host-without-ptr"])
def test_same_threat_signed_by_its_real_domain_is_delivered_tagged_not_held(postfix: PostfixInstance, client: str) -> None:
    """A newsletter quoting the threat, DKIM-signed by sender.test, DMARC pass. Even from a
    host without reverse DNS, a weak IP signal alone does not unlock the quarantine."""
    key, _ = rsa_key("sender")
    local = f"news-{client.rsplit('.', 1)[1]}"
    sent = make_message(THREAT, subject="What voters were sent", sender="Sender News <news@sender.test>", to=f"{local}@example.test")
    signed = sign(sent.as_bytes().replace(b"\n", b"\r\n"), "sender.test", "sel", key)
    assert send_from(postfix, client, signed, rcpt=f"{local}@example.test", mail_from="bounce@sender.test").accepted

    [raw] = postfix.wait_for_mail(local, 1)
    got = parse(raw)
    assert str(got["Subject"]) == "[SUSPICIOUS] What voters were sent"
    report = " ".join(str(got["X-Spoofguard-Report"]).split())
    assert report.startswith("action=tag")
    assert "auth.dmarc_pass=-1.0" in report
    results = " ".join(str(got["Authentication-Results"]).split())
    assert "dkim=pass header.d=sender.test header.s=sel" in results and "dmarc=pass" in results
    assert postfix.queue("hold") == []


def test_forged_authentication_results_are_removed_before_delivery(postfix: PostfixInstance) -> None:
    forged = make_message(
        BENIGN, subject="Invoice", sender="Billing <billing@unknown-vendor.test>", to="forged-ar@example.test",
        extra_headers={"Authentication-Results": f"{AUTHSERV_ID}; spf=pass smtp.mailfrom=billing@unknown-vendor.test; dkim=pass header.d=unknown-vendor.test; dmarc=pass header.from=unknown-vendor.test"},
    )
    assert send_from(postfix, BAD_IP, forged, rcpt="forged-ar@example.test", mail_from="billing@unknown-vendor.test").accepted

    [raw] = postfix.wait_for_mail("forged-ar", 1)
    got = parse(raw)
    results = [" ".join(str(v).split()) for v in got.get_all("Authentication-Results")]
    assert len(results) == 1, results  # only ours survived
    assert results[0].startswith(f"{AUTHSERV_ID}; spf=none")
    assert "dkim=pass" not in results[0] and "dmarc=none" in results[0]
    assert "auth.forged_results=+3.0" in " ".join(str(got["X-Spoofguard-Report"]).split())
