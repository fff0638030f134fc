"""First contact through Postfix: the first message from a sender says so in the report
header, the second does not; a reply to someone a local user wrote to is known; two
milters sharing a Redis share the memory; a memory that is down costs no mail."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from tests.support.dns_server import LoopbackDNS
from tests.support.messages import THREAT, make_message
from tests.support.milter_process import MilterProcess
from tests.support.postfix import GOOD_IP, XCLIENT, milter_sections, requires_postfix, send_from
from tests.support.postfix_harness import PostfixInstance
from tests.support.redis_server import RedisServer, redis_available

pytestmark = [requires_postfix, pytest.mark.postfix]
FIRST = "sender.first_contact=+0.0 first message from this sender to you"


def report(raw: bytes) -> str:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return " ".join(str(parsed.get("X-Spoofguard-Report", "")).split())


def subjects(raw: bytes) -> list[str]:
    return [str(s) for s in email.message_from_bytes(raw, policy=email.policy.default).get_all("Subject")]


def test_the_first_message_is_flagged_the_second_is_not(postfix: PostfixInstance) -> None:
    for _ in range(2):
        sent = make_message("Minutes attached.", subject="Minutes", sender="Bob <bob@sender.test>", to="ann@example.test")
        assert send_from(postfix, GOOD_IP, sent, rcpt="ann@example.test").accepted
    first, second = postfix.wait_for_mail("ann", 2)
    assert FIRST in report(first)
    assert "first_contact" not in report(second)
    assert subjects(first) == subjects(second) == ["Minutes"]  # shown in the report, never in the subject


def test_a_tagged_first_message_keeps_its_one_subject_tag_and_teaches_nothing(postfix: PostfixInstance) -> None:
    for _ in range(2):
        sent = make_message(THREAT, subject="Your vote", sender="Bob <bob@sender.test>", to="ben@example.test")
        assert send_from(postfix, GOOD_IP, sent, rcpt="ben@example.test").accepted
    first, second = postfix.wait_for_mail("ben", 2)
    assert subjects(first) == ["[SUSPICIOUS] Your vote"]
    assert FIRST in report(first) and FIRST in report(second)  # tagged mail is not learned


def test_a_reply_from_someone_a_local_user_wrote_to_is_known(milter: MilterProcess) -> None:
    relaying = {**XCLIENT, "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination"}  # users send out
    with PostfixInstance(milter=milter.address, main_cf_extra=relaying) as mx:
        # cy writes from this host (a loopback client: a local submission) to dora elsewhere
        mine = make_message("Can we meet?", subject="Meeting", sender="Cy <cy@example.test>", to="dora@sender.test")
        assert mx.send(mine, mail_from="cy@example.test", rcpts=["dora@sender.test"]).accepted
        reply = make_message("Yes, Tuesday.", subject="Re: Meeting", sender="Dora <dora@sender.test>", to="cy@example.test")
        assert send_from(mx, GOOD_IP, reply, rcpt="cy@example.test", mail_from="dora@sender.test").accepted
        [delivered] = mx.wait_for_mail("cy", 1)
        stranger = make_message("Hello.", subject="Hi", sender="Gus <gus@sender.test>", to="cy@example.test")
        assert send_from(mx, GOOD_IP, stranger, rcpt="cy@example.test", mail_from="gus@sender.test").accepted
        [_, unknown] = mx.wait_for_mail("cy", 2)
    assert "first_contact" not in report(delivered)
    assert FIRST in report(unknown)  # someone cy never wrote to


@pytest.mark.skipif(not redis_available(), reason="redis-server is not installed (make test installs it)")
def test_two_milters_sharing_a_redis_share_the_memory(dns: LoopbackDNS, tmp_path: Path) -> None:
    secret = tmp_path / "known-senders.key"
    secret.write_bytes(b"k" * 32)  # every MX host gets the same secret file
    with RedisServer() as redis:
        shared = {"cache": {"backend": "redis", "redis_url": redis.url},
                  "checks": {"sender": {"secret_file": str(secret)}}}
        with MilterProcess(milter_sections(dns, **shared)) as one, MilterProcess(milter_sections(dns, **shared)) as two, \
                PostfixInstance(milter=one.address, main_cf_extra=XCLIENT) as mx1, \
                PostfixInstance(milter=two.address, main_cf_extra=XCLIENT) as mx2:
            sent = make_message("Minutes attached.", subject="Minutes", sender="Bob <bob@sender.test>", to="eve@example.test")
            assert send_from(mx1, GOOD_IP, sent, rcpt="eve@example.test").accepted
            assert FIRST in report(mx1.wait_for_mail("eve", 1)[0])
            assert send_from(mx2, GOOD_IP, sent, rcpt="eve@example.test").accepted
            assert "first_contact" not in report(mx2.wait_for_mail("eve", 1)[0])  # learned on the other host


def test_a_memory_that_is_down_costs_no_mail(dns: LoopbackDNS) -> None:
    down = {"cache": {"backend": "redis", "redis_url": "redis://127.0.0.1:9/0", "timeout": 0.2}}
    with MilterProcess(milter_sections(dns, **down)) as milter, \
            PostfixInstance(milter=milter.address, main_cf_extra=XCLIENT) as mx:
        for _ in range(2):
            sent = make_message("Minutes attached.", subject="Minutes", sender="Bob <bob@sender.test>", to="fay@example.test")
            assert send_from(mx, GOOD_IP, sent, rcpt="fay@example.test").accepted
        delivered = mx.wait_for_mail("fay", 2)
    assert all("first_contact" not in report(raw) for raw in delivered)  # nothing known, nothing claimed
    assert all(b"X-Spoofguard-Score" in raw for raw in delivered)
