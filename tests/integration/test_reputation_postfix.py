"""Domain age and IP reputation end to end: real Postfix, the milter process, a loopback
DNS server with a DNS blocklist, and a loopback RDAP server the milter's bootstrap points
at. The 2020 pattern: a listed IP, a days-old From domain, a threat."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.dkim_keys import rsa_key, sign
from tests.support.dns_server import LoopbackDNS
from tests.support.messages import BENIGN, THREAT, make_message
from tests.support.milter_process import MilterProcess
from tests.support.postfix import BAD_IP, GOOD_IP, milter_sections, requires_postfix, send_from
from tests.support.postfix_harness import PostfixInstance
from tests.support.rdap_server import LoopbackRDAP

pytestmark = [requires_postfix, pytest.mark.postfix]

NOW = datetime.now(UTC)
NEW_DOMAIN = "officialproudboys.test"


@pytest.fixture(scope="module")
def rdap() -> Iterator[LoopbackRDAP]:
    with LoopbackRDAP() as server:
        server.add_domain(NEW_DOMAIN, NOW - timedelta(days=3))
        server.add_domain("sender.test", NOW - timedelta(days=4200))
        yield server


@pytest.fixture(scope="module")
def dns(dns: LoopbackDNS) -> LoopbackDNS:
    """The shared records, plus a blocklist that lists BAD_IP as a known scam source."""
    reverse = ".".join(reversed(BAD_IP.split(".")))
    dns.add("2.0.0.127.bl.test", "A", "127.0.0.2")
    dns.add(f"{reverse}.bl.test", "A", "127.0.0.2")
    return dns


@pytest.fixture(scope="module")
def milter(dns: LoopbackDNS, rdap: LoopbackRDAP, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilterProcess]:
    directory = Path(tmp_path_factory.mktemp("reputation"))
    bootstrap = directory / "dns.json"
    bootstrap.write_text(json.dumps(rdap.bootstrap_for(["test"])))
    (directory / "deny.txt").write_text("# networks we refuse to trust\n")
    sections = milter_sections(dns, checks={
        "auth": {"authserv_id": "mx.spoofguard.test"},
        "ip_reputation": {"deny_files": [str(directory / "deny.txt")],
                          "dnsbl": [{"name": "bl", "zone": "bl.test", "weight": 2.0,
                                     "codes": {"127.0.0.2": "scam source"}, "weights": {"scam source": 4.0}}]},
        "domain_age": {"rdap_bootstrap": str(bootstrap)},
    })
    with MilterProcess(sections) as process:
        yield process


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_threat_from_a_listed_ip_and_a_days_old_domain_is_held(postfix: PostfixInstance, milter: MilterProcess) -> None:
    sent = make_message(THREAT, subject="Vote for Trump or else!", sender=f"Proud Boys <info@{NEW_DOMAIN}>", to="voter@example.test")
    assert send_from(postfix, BAD_IP, sent, rcpt="voter@example.test", mail_from=f"info@{NEW_DOMAIN}").accepted

    [entry] = postfix.wait_for_queue("hold", 1)
    queued = " ".join(postfix.postcat(entry["queue_id"]).split())
    assert "X-Spoofguard-Report: action=quarantine" in queued
    assert "ip_reputation.dnsbl.bl=+4.0" in queued
    assert "domain_age.young=+3.0" in queued
    assert f"From and envelope domain {NEW_DOMAIN} registered" in queued
    log = milter.log()
    assert f"queue_id={entry['queue_id']}" in log and "action=quarantine" in log
    postfix.delete(entry["queue_id"])
    assert postfix.queue("hold") == []


def test_threat_from_an_old_clean_authenticated_domain_is_not_held(postfix: PostfixInstance) -> None:
    key, _ = rsa_key("sender")
    sent = make_message(THREAT, subject="What voters were sent", sender="Sender News <news@sender.test>", to="reader@example.test")
    signed = sign(sent.as_bytes().replace(b"\n", b"\r\n"), "sender.test", "sel", key)
    assert send_from(postfix, GOOD_IP, signed, rcpt="reader@example.test", mail_from="bounce@sender.test").accepted

    [raw] = postfix.wait_for_mail("reader", 1)
    report = " ".join(str(parse(raw)["X-Spoofguard-Report"]).split())
    assert report.startswith(("action=tag", "action=accept"))
    assert "domain_age.young" not in report and "ip_reputation.dnsbl.bl=+" not in report
    assert postfix.queue("hold") == []


def test_local_deny_file_is_reread_on_sighup(postfix: PostfixInstance, milter: MilterProcess) -> None:
    client = "198.51.100.20"

    def report_for(local: str) -> str:
        sent = make_message(BENIGN, subject="Lunch", sender="Pat <pat@sender.test>", to=f"{local}@example.test")
        assert send_from(postfix, client, sent, rcpt=f"{local}@example.test", mail_from="pat@sender.test").accepted
        [raw] = postfix.wait_for_mail(local, 1)
        return " ".join(str(parse(raw)["X-Spoofguard-Report"] or "").split())

    assert "local_deny" not in report_for("before-deny")
    deny_file = Path(str(milter.sections["checks"]["ip_reputation"]["deny_files"][0]))  # type: ignore[index]
    deny_file.write_text(deny_file.read_text() + "198.51.100.0/24\n")
    milter.reload()
    assert "ip_reputation.local_deny=+6.0 198.51.100.20 in local deny list (198.51.100.0/24)" in report_for("after-deny")


NEWS_ARTICLE = (
    "Voters in several states received threatening emails this week that claimed to come from a "
    "far-right group. One message, shared with the Sender News desk, reads: \"We are in possession "
    "of all your information. You will vote for Trump on Election Day or we will come after you.\" "
    "Election officials said the senders spoofed the group's address and urged recipients not to "
    "reply and to report the emails to the FBI.\n"
)


def newsletter(body: str, subject: str, to: str) -> bytes:
    key, _ = rsa_key("sender")
    sent = make_message(body, subject=subject, sender="Sender News <news@sender.test>", to=to,
                        extra_headers={"List-Unsubscribe": "<mailto:leave@sender.test>"})
    return sign(sent.as_bytes().replace(b"\n", b"\r\n"), "sender.test", "sel", key)


def test_the_2020_text_from_an_unauthenticated_days_old_domain_is_held(postfix: PostfixInstance) -> None:
    clean_client = "198.51.100.77"  # on no list; only the domain and the text speak
    sent = make_message(THREAT, subject="Your vote", sender=f"Proud Boys <info@{NEW_DOMAIN}>", to="held-voter@example.test")
    assert send_from(postfix, clean_client, sent, rcpt="held-voter@example.test", mail_from=f"info@{NEW_DOMAIN}").accepted

    [entry] = postfix.wait_for_queue("hold", 1)
    queued = " ".join(postfix.postcat(entry["queue_id"]).split())
    assert "X-Spoofguard-Report: action=quarantine" in queued
    assert "auth.unauthenticated=+2.0" in queued and "domain_age.young=+3.0" in queued
    assert "content.harm=+3.0" in queued and "ip_reputation.dnsbl" not in queued
    postfix.delete(entry["queue_id"])


def test_the_same_text_quoted_in_an_authenticated_newsletter_is_delivered_without_a_tag(postfix: PostfixInstance) -> None:
    raw = newsletter(NEWS_ARTICLE, "Voters receive threatening emails", "subscriber@example.test")
    assert send_from(postfix, GOOD_IP, raw, rcpt="subscriber@example.test", mail_from="bounce@sender.test").accepted

    [got] = [parse(raw) for raw in postfix.wait_for_mail("subscriber", 1)]
    assert str(got["Subject"]) == "Voters receive threatening emails"
    assert postfix.queue("hold") == []


def test_an_authenticated_newsletter_is_never_tagged_but_its_report_says_what_it_holds(postfix: PostfixInstance) -> None:
    raw = newsletter(THREAT, "This week's letter", "reader2@example.test")  # the threat itself, unquoted
    assert send_from(postfix, GOOD_IP, raw, rcpt="reader2@example.test", mail_from="bounce@sender.test").accepted

    [got] = [parse(raw) for raw in postfix.wait_for_mail("reader2", 1)]
    assert str(got["Subject"]) == "This week's letter"
    report = " ".join(str(got["X-Spoofguard-Report"]).split())
    assert report.startswith("action=accept") and "content.harm=+3.0" in report
    assert postfix.queue("hold") == []
