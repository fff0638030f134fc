"""No fault loses a message or lets one through unchecked: the milter is killed with
SIGKILL in the middle of a stream of SMTP sessions and restarted, as systemd's
Restart=on-failure would. Postfix (milter_default_action = tempfail) answers 4xx while it
is down, the sending side retries, and every message ends up delivered exactly once,
each carrying spoofguard's score header."""

from __future__ import annotations

import email
import email.policy
import signal
import smtplib
import threading
import time
from collections import Counter

import pytest

from tests.support.messages import BENIGN, make_message
from tests.support.milter_process import MilterProcess
from tests.support.postfix import GOOD_IP, open_session, requires_postfix
from tests.support.postfix_harness import PostfixInstance

pytestmark = [requires_postfix, pytest.mark.postfix]

MESSAGES = 500
SENDERS = 6


def test_milter_killed_under_load_loses_nothing_and_passes_nothing_unchecked(
        postfix: PostfixInstance, milter: MilterProcess) -> None:
    pending = list(range(MESSAGES))
    lock = threading.Lock()
    accepted: Counter[int] = Counter()
    deferred: Counter[int] = Counter()
    sent_count = threading.Event()

    def take() -> int | None:
        with lock:
            return pending.pop(0) if pending else None

    def send_one(conn: smtplib.SMTP, number: int) -> bool:
        message = make_message(BENIGN, subject=f"rel-{number}", to="rel@example.test")
        try:
            refused = conn.sendmail("bob@sender.test", ["rel@example.test"], message.as_bytes())
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                return False
            raise
        assert not refused
        return True

    def sender() -> None:
        conn: smtplib.SMTP | None = None
        while (number := take()) is not None:
            for _attempt in range(200):
                try:
                    conn = conn or open_session(postfix, GOOD_IP)
                    if send_one(conn, number):
                        with lock:
                            accepted[number] += 1
                            if sum(accepted.values()) >= MESSAGES // 4:
                                sent_count.set()
                        break
                    with lock:
                        deferred[number] += 1
                except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, OSError):
                    pass
                try:
                    if conn is not None:
                        conn.rset()
                except (smtplib.SMTPException, OSError):
                    conn = None
                time.sleep(0.2)  # a sending MTA retries later; the test retries sooner
            else:
                raise AssertionError(f"message {number} never accepted")
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                pass

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    assert sent_count.wait(120), "the stream did not get going"
    milter.signal(signal.SIGKILL)  # mid-stream, as a crash would
    assert milter.proc is not None
    milter.proc.wait(10)
    time.sleep(1.0)  # the sessions in flight meanwhile are answered 4xx by Postfix
    milter.start()  # what Restart=on-failure does
    for thread in threads:
        thread.join(300)

    assert sorted(accepted) == list(range(MESSAGES)) and set(accepted.values()) == {1}
    assert sum(deferred.values()) >= 1, "the kill deferred nothing: it did not happen mid-stream"
    delivered = postfix.wait_for_mail("rel", MESSAGES, timeout=180)
    subjects = Counter()
    for raw in delivered:
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert parsed["X-Spoofguard-Score"] is not None, "a message was delivered unchecked"
        subjects[str(parsed["Subject"])] += 1
    assert subjects == Counter(f"rel-{n}" for n in range(MESSAGES))  # none lost, none twice
    print(f"{MESSAGES} messages, {sum(deferred.values())} deferred while the milter was down, "
          f"{len(delivered)} delivered, all checked")
