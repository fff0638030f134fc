"""The Postfix harness delivers, refuses, tempfails and holds mail the way later tests expect."""

from __future__ import annotations

import email
import email.policy
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from tests.support.postfix_harness import POSTFIX, PostfixInstance, free_port

pytestmark = pytest.mark.postfix

if not os.path.exists(POSTFIX):
    pytest.skip(f"{POSTFIX} is not installed (apt-get install postfix)", allow_module_level=True)
if os.geteuid() != 0:
    pytest.skip("starting a private Postfix instance requires root", allow_module_level=True)

SENDER = "sender@example.net"

HOLD_MILTER = """\
import sys

import Milter


class HoldMilter(Milter.Base):
    def eom(self):
        self.quarantine("test hold")
        return Milter.ACCEPT


Milter.factory = HoldMilter
Milter.runmilter("spoofguard-test-hold", "inet:%s@127.0.0.1" % sys.argv[1], timeout=60)
"""


def make_message(
    subject: str, to: str, body: str = "Hello from the harness test.\n"
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{subject.replace(' ', '-')}@example.net>"
    message.set_content(body)
    return message


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.fixture(scope="module")
def postfix() -> Iterator[PostfixInstance]:
    with PostfixInstance() as instance:
        yield instance


@pytest.fixture
def hold_milter() -> Iterator[str]:
    """A pymilter process that quarantines every message; yields its Postfix socket spec."""
    pytest.importorskip("Milter", reason="pymilter is not installed")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_MILTER, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                pytest.fail(f"milter exited with {process.returncode}: {process.communicate()[0]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() >= deadline:
                    pytest.fail("milter did not start listening within 10s")
                time.sleep(0.05)
        yield f"inet:127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def test_delivers_into_recipient_maildir(postfix: PostfixInstance) -> None:
    result = postfix.send(
        make_message("harness delivery check", "alice@example.test"),
        mail_from=SENDER,
        rcpts=["alice@example.test"],
    )

    assert result.accepted and result.code == 250, result
    assert result.refused == {}
    [raw] = postfix.wait_for_mail("alice", 1)
    delivered = parse(raw)
    assert delivered["Subject"] == "harness delivery check"
    assert delivered["Delivered-To"] == "alice@example.test"
    received = delivered.get_all("Received") or []
    assert any("by mx.spoofguard.test (Postfix)" in header for header in received), received
    assert b"Hello from the harness test." in raw
    assert (postfix.maildir_root / "alice" / "new").is_dir()


def test_several_messages_on_one_connection(postfix: PostfixInstance) -> None:
    connection = postfix.connect()
    try:
        first = postfix.send(
            make_message("first on connection", "bob@example.test"),
            mail_from=SENDER,
            rcpts=["bob@example.test"],
            connection=connection,
        )
        second = postfix.send(
            make_message("second on connection", "bob+tag@example.test"),
            mail_from=SENDER,
            rcpts=["bob+tag@example.test"],
            connection=connection,
        )
    finally:
        connection.quit()

    assert first.accepted and second.accepted, (first, second)
    subjects = [parse(raw)["Subject"] for raw in postfix.wait_for_mail("bob", 2)]
    assert subjects == ["first on connection", "second on connection"]


def test_refuses_relaying_outside_delivery_domains(postfix: PostfixInstance) -> None:
    result = postfix.send(
        make_message("relay attempt", "mallory@elsewhere.test"),
        mail_from=SENDER,
        rcpts=["mallory@elsewhere.test"],
    )

    assert not result.accepted
    assert 500 <= result.code < 600, result
    assert "Relay access denied" in result.message
    assert set(result.refused) == {"mallory@elsewhere.test"}
    assert not (postfix.maildir_root / "mallory").exists()
    assert postfix.queue() == []


def test_partial_refusal_still_delivers_to_accepted_recipients(postfix: PostfixInstance) -> None:
    result = postfix.send(
        make_message("partly relayed", "carol@example.test"),
        mail_from=SENDER,
        rcpts=["carol@example.test", "trent@elsewhere.test"],
    )

    assert result.accepted and result.code == 250, result
    assert list(result.refused) == ["trent@elsewhere.test"]
    assert result.refused["trent@elsewhere.test"][0] == 554
    [raw] = postfix.wait_for_mail("carol", 1)
    assert parse(raw)["Subject"] == "partly relayed"


def test_set_main_cf_takes_effect_for_new_connections(postfix: PostfixInstance) -> None:
    message = make_message("new domain", "dave@other.test")
    before = postfix.send(message, mail_from=SENDER, rcpts=["dave@other.test"])
    assert not before.accepted and before.code == 554, before

    postfix.set_main_cf(virtual_mailbox_domains="example.test, other.test")

    after = postfix.send(message, mail_from=SENDER, rcpts=["dave@other.test"])
    assert after.accepted, after
    [raw] = postfix.wait_for_mail("dave", 1)
    assert parse(raw)["Delivered-To"] == "dave@other.test"


def test_unreachable_milter_tempfails_and_keeps_nothing() -> None:
    with PostfixInstance(milter=f"inet:127.0.0.1:{free_port()}") as postfix:
        result = postfix.send(
            make_message("milter down", "alice@example.test"),
            mail_from=SENDER,
            rcpts=["alice@example.test"],
        )

        assert not result.accepted
        assert 400 <= result.code < 500, result
        assert postfix.queue() == []
        time.sleep(1)
        assert postfix.mailbox("alice") == []
        assert postfix.queue() == []
        assert "milter" in postfix.maillog().lower()


def test_quarantining_milter_holds_until_released(hold_milter: str) -> None:
    with PostfixInstance(milter=hold_milter) as postfix:
        result = postfix.send(
            make_message("please hold", "erin@example.test", body="held body text\n"),
            mail_from=SENDER,
            rcpts=["erin@example.test"],
        )
        assert result.accepted and result.code == 250, result

        [entry] = postfix.wait_for_queue("hold", 1)
        assert entry["sender"] == SENDER
        assert [rcpt["address"] for rcpt in entry["recipients"]] == ["erin@example.test"]
        assert "milter-hold: END-OF-MESSAGE" in postfix.maillog()
        shown = postfix.postcat(entry["queue_id"])
        assert "Subject: please hold" in shown
        assert "held body text" in shown
        assert postfix.mailbox("erin") == []

        postfix.release_hold(entry["queue_id"])
        postfix.flush()

        [raw] = postfix.wait_for_mail("erin", 1)
        assert parse(raw)["Subject"] == "please hold"
        assert postfix.queue("hold") == []
