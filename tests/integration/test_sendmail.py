"""The milter in front of a real Sendmail (8.17, unpacked from Debian's packages): mail
delivered with our score, tagged once, held in Sendmail's quarantine with our reason,
forged fields removed, and a 4xx to the sender while the milter is down (F=T)."""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dns_server import LoopbackDNS
from tests.support.messages import THREAT, make_message
from tests.support.milter_process import MilterProcess
from tests.support.postfix import AUTHSERV_ID, first_contact_notice_only, milter_sections
from tests.support.sendmail_harness import SendmailInstance, available

pytestmark = pytest.mark.skipif(not available(), reason="Sendmail is not unpacked (make test unpacks it)")

# Sendmail's client here is loopback, which spoofguard treats as a local submission
# unless told to judge those too.
JUDGE_LOOPBACK = {"policy": {"judge_local_submissions": True}}


SENDER = "bob@local.test"  # local.test authenticates mail from loopback: SPF pass, DMARC aligned


@pytest.fixture(scope="module")
def milter(dns: LoopbackDNS) -> Iterator[MilterProcess]:
    dns.add_txt("local.test", "v=spf1 ip4:127.0.0.1 -all")
    dns.add_txt("_dmarc.local.test", "v=DMARC1; p=reject")
    with MilterProcess(milter_sections(dns, **JUDGE_LOOPBACK)) as process:
        yield process


@pytest.fixture(scope="module")
def sendmail(milter: MilterProcess) -> Iterator[SendmailInstance]:
    with SendmailInstance(f"inet:{milter.port}@127.0.0.1") as instance:
        yield instance


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_benign_mail_is_delivered_with_our_score(sendmail: SendmailInstance) -> None:
    sent = make_message("Lunch on Thursday? The usual place at noon.", subject="Lunch", sender=SENDER,
                        to="carol@example.test")
    assert sendmail.send(sent, mail_from=SENDER, rcpts=["carol@example.test"]).accepted
    delivered = parsed(sendmail.wait_for_mail("carol", 1)[0])
    assert delivered["X-Spoofguard-Score"] is not None
    assert delivered["Subject"] == "Lunch"
    assert first_contact_notice_only(delivered["X-Spoofguard-Report"])


def test_a_threat_is_tagged_and_its_subject_changed_once(sendmail: SendmailInstance) -> None:
    sent = make_message(THREAT, subject="Your vote", sender=SENDER, to="dave@example.test")
    assert sendmail.send(sent, mail_from=SENDER, rcpts=["dave@example.test"]).accepted
    delivered = parsed(sendmail.wait_for_mail("dave", 1)[0])
    assert delivered.get_all("Subject") == ["[SUSPICIOUS] Your vote"]
    assert "action=tag" in delivered["X-Spoofguard-Report"]


def test_forged_marks_are_removed(sendmail: SendmailInstance) -> None:
    sent = make_message("See you tomorrow.", subject="Notes", sender=SENDER, to="erin@example.test")
    sent["X-Spoofguard-Score"] = "-10.0 (trust me)"
    sent["X-Spoofguard-Report"] = "action=accept"
    sent["Authentication-Results"] = f"{AUTHSERV_ID}; dmarc=pass header.from=bank.test"
    assert sendmail.send(sent, mail_from=SENDER, rcpts=["erin@example.test"]).accepted
    delivered = parsed(sendmail.wait_for_mail("erin", 1)[0])
    [score] = delivered.get_all("X-Spoofguard-Score")
    assert "trust me" not in score
    assert len(delivered.get_all("X-Spoofguard-Report") or []) <= 1
    assert first_contact_notice_only(delivered["X-Spoofguard-Report"])  # ours, not the forged "action=accept"
    results = [str(v) for v in delivered.get_all("Authentication-Results") or []]
    assert all("bank.test" not in v for v in results)
    ours = [" ".join(v.split()) for v in results if v.startswith(AUTHSERV_ID)]
    assert len(ours) == 1 and "dmarc=pass" in ours[0] and "header.from=local.test" in ours[0]


def test_a_spoofed_extortion_is_held_in_sendmails_quarantine_with_our_reason(sendmail: SendmailInstance) -> None:
    victim = "frank@example.test"  # From is the recipient, nothing authenticates it
    sent = make_message(THREAT, subject="Last warning", sender=victim, to=victim)
    assert sendmail.send(sent, mail_from=victim, rcpts=[victim]).accepted
    [queue_id] = sendmail.wait_for_quarantine(1)
    listing = sendmail.mailq(quarantined=True)
    assert queue_id in listing
    assert "QUARANTINE: spoofguard score" in listing  # mailq cuts the reason to its column
    reason = next(line for line in (sendmail.queue_dir / f"hf{queue_id}").read_text(errors="replace").splitlines()
                  if line.startswith("q"))
    assert "impersonation.from_is_recipient" in reason and "content." in reason
    assert sendmail.mailbox("frank") == []


def test_with_the_milter_down_the_sender_gets_a_4xx(dns: LoopbackDNS) -> None:
    with MilterProcess(milter_sections(dns, **JUDGE_LOOPBACK)) as stopped:
        port = stopped.port
    with SendmailInstance(f"inet:{port}@127.0.0.1") as instance:
        result = instance.send(make_message("hello", subject="hi", sender="bob@sender.test", to="gina@example.test"),
                               mail_from="bob@sender.test", rcpts=["gina@example.test"])
    assert not result.accepted and 400 <= result.code < 500, result


def quarantine(sendmail: SendmailInstance, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spoofguard.cli", "quarantine", "--mta", "sendmail",
                           "--sendmail-config", str(sendmail.cf), "--sendmail", str(sendmail.binary), *args],
                          capture_output=True, text=True, timeout=120)


def test_spoofguard_quarantine_lists_shows_releases_and_deletes_on_sendmail(sendmail: SendmailInstance) -> None:
    before = len(sendmail.quarantined_ids())
    for local, subject in (("hank", "Your vote"), ("ida", "Last warning")):
        address = f"{local}@example.test"
        sent = make_message(THREAT, subject=subject, sender=address, to=address)
        assert sendmail.send(sent, mail_from=address, rcpts=[address]).accepted
    sendmail.wait_for_quarantine(before + 2)
    listed = quarantine(sendmail, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    held = {r["recipients"][0]: r for r in map(json.loads, listed.stdout.splitlines())}
    hank, ida = held["hank@example.test"], held["ida@example.test"]
    assert hank["subject"] == "[SUSPICIOUS] Your vote" and hank["sender"] == "hank@example.test"
    assert float(hank["score"]) >= 8.0 and hank["reason"].startswith("action=quarantine")
    assert "impersonation.from_is_recipient" in hank["signals"]
    assert 0 <= hank["age_seconds"] < 600 and hank["size"] > 0
    table = quarantine(sendmail, "list")
    assert f"{len(held)} held message(s)" in table.stdout and "reason: action=quarantine" in table.stdout

    shown = quarantine(sendmail, "show", hank["queue_id"])
    assert shown.returncode == 0 and "Subject: [SUSPICIOUS] Your vote" in shown.stdout
    assert "will comply" in shown.stdout  # the body follows the headers

    released = quarantine(sendmail, "release", hank["queue_id"])
    assert released.returncode == 0, released.stderr
    delivered = parsed(sendmail.wait_for_mail("hank", 1)[0])
    assert delivered["Subject"] == "[SUSPICIOUS] Your vote"  # as it was held, tag and all
    assert hank["queue_id"] not in sendmail.quarantined_ids()

    deleted = quarantine(sendmail, "delete", ida["queue_id"])
    assert deleted.returncode == 0 and ida["queue_id"] in deleted.stdout
    assert not list(sendmail.queue_dir.glob(f"*{ida['queue_id']}"))
    assert ida["queue_id"] not in sendmail.mailq(quarantined=True)
    assert sendmail.mailbox("ida") == []
    missing = quarantine(sendmail, "delete", ida["queue_id"])
    assert missing.returncode != 0 and "no quarantined message" in missing.stderr


def test_the_digest_goes_out_through_sendmail(sendmail: SendmailInstance, tmp_path: Path) -> None:
    address = "jack@example.test"
    assert sendmail.send(make_message(THREAT, subject="Pay now", sender=address, to=address),
                         mail_from=address, rcpts=[address]).accepted
    sendmail.wait_for_quarantine(1)
    config = tmp_path / "spoofguard.toml"
    config.write_text(f'[state]\ndir = "{tmp_path}"\n')
    sent = quarantine(sendmail, "digest", "--to", "postmaster@example.test", "--since", "1h", "--config", str(config))
    assert sent.returncode == 0, sent.stderr
    assert "digest sent to postmaster@example.test" in sent.stdout
    digest = parsed(sendmail.wait_for_mail("root", 1)[-1])  # postmaster is an alias of root
    assert digest["Subject"].startswith("spoofguard: ") and "held" in digest["Subject"]
    assert "[SUSPICIOUS] Pay now" in digest.get_content()
