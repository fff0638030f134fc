"""``spoofguard quarantine`` over a real Postfix hold queue: list what the milter held with
its score and reason, show it, release it (delivered unchanged) or delete it."""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import sys

import pytest

from spoofguard.held import HeldRecords
from spoofguard.lookups.store import CacheSection, open_store
from spoofguard.quarantine import Held
from tests.support.messages import THREAT, make_message
from tests.support.milter_process import MilterProcess
from tests.support.postfix import GOOD_IP, XCLIENT, requires_postfix, send_from
from tests.support.postfix_harness import PostfixInstance

pytestmark = [requires_postfix, pytest.mark.postfix]


def spoofguard(postfix: PostfixInstance, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spoofguard.cli", "quarantine", "--postfix-config",
                           str(postfix.config_dir), *args], capture_output=True, text=True, timeout=60)


def hold(postfix: PostfixInstance, local: str, subject: str) -> None:
    """The classic extortion spoof: From is the recipient, nothing authenticates it."""
    address = f"{local}@example.test"
    sent = make_message(THREAT, subject=subject, sender=address, to=address)
    assert send_from(postfix, GOOD_IP, sent, rcpt=address, mail_from=address).accepted


def test_list_show_release_and_delete(postfix: PostfixInstance) -> None:
    hold(postfix, "first", "Your vote")
    hold(postfix, "second", "Last warning")
    postfix.wait_for_queue("hold", 2)
    files = [f for f in (postfix.queue_dir / "hold").rglob("*") if f.is_file()]
    assert len(files) == 2 and all(f.stat().st_mode & 0o077 == 0 for f in files)  # held mail is private

    listed = spoofguard(postfix, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    held = {r["subject"]: r for r in map(json.loads, listed.stdout.splitlines())}
    assert set(held) == {"[SUSPICIOUS] Your vote", "[SUSPICIOUS] Last warning"}  # held as tagged
    first = held["[SUSPICIOUS] Your vote"]
    assert first["sender"] == "first@example.test" and first["recipients"] == ["first@example.test"]
    assert float(first["score"]) >= 8.0
    assert first["reason"].startswith("action=quarantine")
    assert "impersonation.from_is_recipient" in first["signals"]
    assert 0 <= first["age_seconds"] < 600

    table = spoofguard(postfix, "list")
    assert "2 held message(s)" in table.stdout and "reason: action=quarantine" in table.stdout
    assert spoofguard(postfix, "list", "--older-than", "1h", "--json").stdout == ""  # both just arrived

    shown = spoofguard(postfix, "show", first["queue_id"])
    assert shown.returncode == 0 and "Subject: [SUSPICIOUS] Your vote" in shown.stdout

    released = spoofguard(postfix, "release", first["queue_id"])
    assert released.returncode == 0 and first["queue_id"] in released.stdout
    assert "delivery started" in released.stdout
    [delivered] = postfix.wait_for_mail("first", 1, timeout=20)  # now, not at the next queue run
    assert b"X-Spoofguard-Report: action=quarantine" in delivered  # delivered as it was held

    deleted = spoofguard(postfix, "delete", held["[SUSPICIOUS] Last warning"]["queue_id"])
    assert deleted.returncode == 0
    assert postfix.queue("hold") == []
    assert postfix.mailbox("second") == []


def test_release_delivers_now_not_at_the_next_queue_run(milter: MilterProcess) -> None:
    """With Postfix's own pace (a queue run every 5 minutes here), a released message
    would wait in the deferred queue; release asks for its delivery at once."""
    slow = {**XCLIENT, "queue_run_delay": "300s", "minimal_backoff_time": "300s", "maximal_backoff_time": "600s"}
    with PostfixInstance(milter=milter.address, main_cf_extra=slow) as postfix:
        hold(postfix, "patient", "Your vote")
        [held] = postfix.wait_for_queue("hold", 1)
        released = spoofguard(postfix, "release", held["queue_id"])
        assert released.returncode == 0 and "delivery started" in released.stdout
        [delivered] = postfix.wait_for_mail("patient", 1, timeout=20)
        assert b"X-Spoofguard-Report: action=quarantine" in delivered


def test_the_milter_records_what_it_held_for_a_digest_without_root(postfix: PostfixInstance,
                                                                     milter: MilterProcess) -> None:
    """The record a digest run as the service user reads: by queue id, in the milter's state
    directory, the score and reason the held message carries."""
    hold(postfix, "recorded", "Pay up")
    entries = postfix.wait_for_queue("hold", 1)
    queue_id = next(e["queue_id"] for e in entries if "recorded@example.test" in str(e))
    records = HeldRecords(open_store(CacheSection(backend="sqlite"), path=milter.dir / "held.sqlite", role="held"))
    filled = records.complete(Held(queue_id, 0.0, "", (), 0))
    assert float(filled.score) >= 8.0 and filled.subject == "[SUSPICIOUS] Pay up"
    assert filled.reason.startswith("action=quarantine") and "impersonation.from_is_recipient" in filled.signals
    spoofguard(postfix, "delete", queue_id)


def test_bad_queue_id_and_bad_age_are_refused(postfix: PostfixInstance) -> None:
    bad = spoofguard(postfix, "release", "../../etc")
    assert bad.returncode == 75 and "not a Postfix queue id" in bad.stderr
    age = spoofguard(postfix, "list", "--older-than", "soon")
    assert age.returncode == 64 and "not an age" in age.stderr


def test_digest_mails_newly_held_messages_once(postfix: PostfixInstance, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "sg.toml"
    config.write_text(f'[state]\ndir = "{tmp_path}"\n')
    hold(postfix, "digested", "Pay now")
    [entry] = postfix.wait_for_queue("hold", 1)
    args = ("digest", "--to", "postmaster@example.test", "--config", str(config))
    first = spoofguard(postfix, *args)
    assert first.returncode == 0, first.stderr
    assert "1 newly held message(s); digest sent" in first.stdout
    [raw] = postfix.wait_for_mail("postmaster", 1)
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["Subject"] == "spoofguard: 1 message(s) held" and mail["Auto-Submitted"] == "auto-generated"
    text = mail.get_content()  # type: ignore[attr-defined]
    assert entry["queue_id"] in text and "reason: action=quarantine" in text
    second = spoofguard(postfix, *args)  # nothing new since the last digest
    assert second.returncode == 0 and "nothing sent" in second.stdout
    postfix.delete(entry["queue_id"])
