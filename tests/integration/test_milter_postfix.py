"""End to end: real Postfix, the real milter process, real DNS on loopback.

Each test reads what a user or admin would: the delivered Maildir, the hold queue, the
SMTP reply, the milter's log line.
"""

from __future__ import annotations

import email
import email.policy
import signal

import pytest

from tests.support.dns_server import LoopbackDNS, wait_until
from tests.support.messages import BENIGN, THREAT, make_message, padded
from tests.support.milter_process import MilterProcess
from tests.support.postfix import (
    AUTHSERV_ID,
    BAD_IP,
    GOOD_IP,
    XCLIENT,
    first_contact_notice_only,
    milter_sections,
    open_session,
    requires_postfix,
    send_from,
)
from tests.support.postfix_harness import PostfixInstance

pytestmark = [requires_postfix, pytest.mark.postfix]

def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def delivered(postfix: PostfixInstance, localpart: str, count: int) -> list[email.message.EmailMessage]:
    return [parse(raw) for raw in postfix.wait_for_mail(localpart, count)]


def test_benign_message_arrives_unchanged_but_for_score_and_authentication_headers(postfix: PostfixInstance) -> None:
    sent = make_message(BENIGN, subject="Meeting minutes", to="benign@example.test")
    result = send_from(postfix, GOOD_IP, sent, rcpt="benign@example.test")
    assert result.accepted, result

    [got] = delivered(postfix, "benign", 1)
    assert got["Subject"] == "Meeting minutes"
    assert got["X-Spoofguard-Score"] == "-1.0 (tag>=4.0 quarantine>=8.0)"  # DMARC pass
    assert first_contact_notice_only(got["X-Spoofguard-Report"])  # no report but "first message from this sender"
    [results] = [" ".join(str(v).split()) for v in got.get_all("Authentication-Results")]
    assert results.startswith(f"{AUTHSERV_ID}; spf=pass smtp.mailfrom=bob@sender.test")
    assert "dmarc=pass" in results
    assert got.get_content() == sent.get_content()
    for name in ("From", "To", "Message-ID", "Date"):
        assert got[name] == sent[name]


def test_threat_from_clean_host_is_delivered_tagged(postfix: PostfixInstance) -> None:
    sent = make_message(THREAT, subject="Your vote", to="tagged@example.test")
    assert send_from(postfix, GOOD_IP, sent, rcpt="tagged@example.test").accepted

    [got] = delivered(postfix, "tagged", 1)
    assert got["Subject"] == "[SUSPICIOUS] Your vote"
    report = str(got["X-Spoofguard-Report"])
    assert report.startswith("action=tag")
    assert "content.harm=+3.0" in report
    assert "no sender-risk signal" not in report  # the reason lives in the log line, not here
    score = float(str(got["X-Spoofguard-Score"]).split()[0])
    assert score >= 8.0  # over quarantine, but content alone only tags
    assert postfix.queue("hold") == []


def test_threat_from_risky_host_is_held_with_the_reason(postfix: PostfixInstance, milter: MilterProcess) -> None:
    sent = make_message(THREAT, subject="Your vote", to="held@example.test")
    assert send_from(postfix, BAD_IP, sent, rcpt="held@example.test").accepted

    [entry] = postfix.wait_for_queue("hold", 1)
    assert [r["address"] for r in entry["recipients"]] == ["held@example.test"]
    queued = postfix.postcat(entry["queue_id"])
    assert "X-Spoofguard-Report: action=quarantine" in queued
    assert "ip_reputation.no_ptr=+1.0" in queued
    assert "auth.dmarc_fail_reject=+5.0" in queued
    assert "Subject: [SUSPICIOUS] Your vote" in queued
    assert postfix.mailbox("held") == []
    # Postfix logs that the milter held it; the reason travels in the message and our log.
    assert f"{entry['queue_id']}: milter-hold: END-OF-MESSAGE" in postfix.maillog()
    line = next(v for v in milter.verdict_lines() if f"queue_id={entry['queue_id']}" in v)
    assert "action=quarantine" in line and f"client={BAD_IP}" in line
    assert "content.harm:+3.0" in line and "ip_reputation.no_ptr:+1.0" in line
    assert "auth.dmarc_fail_reject:+5.0" in line
    postfix.release_hold(entry["queue_id"])  # leave the queue empty for the next tests
    postfix.flush()
    postfix.wait_for_mail("held", 1)


def test_a_big_attachment_in_front_of_the_threat_does_not_hide_it(postfix: PostfixInstance, milter: MilterProcess) -> None:
    sent = padded(make_message(THREAT, subject="Your vote", to="padded@example.test"))
    assert len(sent.as_bytes()) > 2_500_000  # past analysis.body_in_memory: spooled
    assert send_from(postfix, BAD_IP, sent, rcpt="padded@example.test").accepted

    [entry] = postfix.wait_for_queue("hold", 1)  # held, as the unpadded message is above
    assert [r["address"] for r in entry["recipients"]] == ["padded@example.test"]
    line = next(v for v in milter.verdict_lines() if f"queue_id={entry['queue_id']}" in v)
    assert "action=quarantine" in line and "content.harm" in line
    assert "message.unscanned_text" not in line  # the image was skipped, not charged to the text
    postfix.delete(entry["queue_id"])


def test_two_messages_on_one_connection_each_get_their_own_verdict(postfix: PostfixInstance) -> None:
    conn = open_session(postfix, GOOD_IP)
    try:
        first = postfix.send(make_message(THREAT, subject="First", to="pair@example.test"),
                             mail_from="bob@sender.test", rcpts=["pair@example.test"], connection=conn)
        second = postfix.send(make_message(BENIGN, subject="Second", to="pair@example.test"),
                              mail_from="bob@sender.test", rcpts=["pair@example.test"], connection=conn)
    finally:
        conn.quit()
    assert first.accepted and second.accepted
    by_subject = {str(m["Subject"]).removeprefix("[SUSPICIOUS] "): m for m in delivered(postfix, "pair", 2)}
    assert str(by_subject["First"]["Subject"]) == "[SUSPICIOUS] First"
    assert str(by_subject["Second"]["Subject"]) == "Second"
    assert first_contact_notice_only(by_subject["Second"]["X-Spoofguard-Report"])
    assert by_subject["Second"]["X-Spoofguard-Score"].startswith("-1.0")


def test_milter_stopped_means_postfix_tempfails_and_keeps_nothing(dns: LoopbackDNS) -> None:
    process = MilterProcess(milter_sections(dns)).start()
    with PostfixInstance(milter=process.address) as postfix:
        assert process.stop() == 0  # SIGTERM: clean exit
        result = postfix.send(make_message(THREAT, to="down@example.test"),
                              mail_from="bob@sender.test", rcpts=["down@example.test"])
        assert not result.accepted and 400 <= result.code < 500, result
        assert postfix.queue() == []
        assert postfix.mailbox("down") == []


def test_sighup_reloads_config_and_keeps_old_one_when_new_is_bad(dns: LoopbackDNS) -> None:
    sections = milter_sections(dns)
    with MilterProcess(sections) as process, PostfixInstance(milter=process.address, main_cf_extra=XCLIENT) as postfix:
        process.reload(milter_sections(dns, actions={"subject_prefix": "[THREAT?] "}))
        assert send_from(postfix, GOOD_IP, make_message(THREAT, subject="One", to="hup@example.test"), rcpt="hup@example.test").accepted
        assert str(delivered(postfix, "hup", 1)[0]["Subject"]) == "[THREAT?] One"

        process.reload(raw=process.config_path.read_text() + "\n[policy]\ntag = 'high'\n")
        assert "reload failed, keeping the running configuration" in process.log()
        assert "policy.tag" in process.log()
        assert send_from(postfix, GOOD_IP, make_message(THREAT, subject="Two", to="hup@example.test"), rcpt="hup@example.test").accepted
        subjects = sorted(str(m["Subject"]) for m in delivered(postfix, "hup", 2))
        assert subjects == ["[THREAT?] One", "[THREAT?] Two"]
        assert process.proc is not None and process.proc.poll() is None
        process.signal(signal.SIGTERM)
        assert wait_until(lambda: process.proc.poll() is not None, timeout=10)
        assert process.proc.returncode == 0


def test_debug_level_set_by_reload_explains_signals_but_never_logs_the_body(postfix: PostfixInstance, milter: MilterProcess, dns: LoopbackDNS) -> None:
    canary = "Marmalade-Quokka-7731"
    body = f"{THREAT}\n\nAccount reference {canary}.\n"
    milter.reload(milter_sections(dns, log={"level": "debug"}))
    try:
        sent = make_message(body, subject="Last notice", to="debuglog@example.test")
        assert send_from(postfix, GOOD_IP, sent, rcpt="debuglog@example.test").accepted
        [got] = delivered(postfix, "debuglog", 1)
        assert str(got["Subject"]).startswith("[SUSPICIOUS]")
        queue_id = milter.verdict_lines()[-1].split("queue_id=", 1)[1].split()[0]
        assert wait_until(lambda: f"queue_id={queue_id} check_ms=" in milter.log(), timeout=5)
        details = [line for line in milter.log().splitlines() if "spoofguard.signals" in line and queue_id in line]
        assert any("signal=auth." in line and "detail=" in line for line in details)  # explained, one line each
        assert any("signal=content." in line for line in details)
        assert "come after you" in " ".join(str(got["X-Spoofguard-Report"]).split())  # the user is told what matched
    finally:
        milter.reload(milter_sections(dns))
    assert canary not in milter.log() and "come after you" not in milter.log()  # the log is not


def test_a_local_submission_is_delivered_saying_it_was_not_judged(postfix: PostfixInstance, milter: MilterProcess) -> None:
    """Sent from this host (a loopback client, as an admin's first test is), a threat is not
    judged as inbound mail, and neither the log nor the message leaves that unsaid."""
    sent = make_message(THREAT, subject="Local test", to="localtest@example.test")
    assert postfix.send(sent, mail_from="admin@example.test", rcpts=["localtest@example.test"]).accepted
    [got] = delivered(postfix, "localtest", 1)
    assert str(got["Subject"]) == "Local test"  # not tagged: not judged
    report = " ".join(str(got["X-Spoofguard-Report"]).split())
    assert "local.submission=+0.0" in report and "not judged" in report
    assert wait_until(lambda: any('reason="local submission, not judged"' in line and "action=accept" in line
                                  for line in milter.verdict_lines()), timeout=5)

