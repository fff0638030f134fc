"""The IP reputation check fed DNS answers directly: what each answer means to the
score, with no network. The same cases run over loopback DNS in tests/integration."""

from __future__ import annotations

import threading

import pytest

from spoofguard.checks import Facts
from spoofguard.checks.ip_reputation.check import (
    DnsListSection,
    IpReputationCheck,
    IpReputationSection,
)
from spoofguard.lookups import LookupSession
from spoofguard.message import Envelope, Message
from spoofguard.verdict import Signal
from tests.support.answers import StaticResolver
from tests.support.dns_server import wait_until

LISTED = "203.0.113.66"
ZEN = DnsListSection(zone="zen.test", codes={"127.0.0.2": "SBL", "127.0.0.4-127.0.0.7": "XBL"},
                     weights={"SBL": 4.0, "XBL": 3.5})
TEST_POINT = {("2.0.0.127.zen.test", "A"): ["127.0.0.2"]}


def signals(resolver: StaticResolver, ip: str = LISTED, **section: object) -> dict[str, Signal]:
    check = IpReputationCheck(IpReputationSection(dnsbl=(ZEN,), **section), resolver)  # type: ignore[arg-type]
    wait_until(lambda: not any(t.name == "dnsbl-probe" for t in threading.enumerate()), 5)
    message = Message.from_bytes(b"Subject: hi\r\n\r\nhello\r\n", Envelope(client_ip=ip))
    found = check.run(message, LookupSession(None, budget=5.0, default_timeout=1.0), Facts())
    return {s.name: s for s in found.signals}


def test_a_listing_scores_the_weight_of_what_the_code_means() -> None:
    resolver = StaticResolver({**TEST_POINT, ("66.113.0.203.zen.test", "A"): ["127.0.0.4"]})
    found = signals(resolver)
    assert found["ip_reputation.dnsbl.zen"].score == 3.5
    assert "XBL" in found["ip_reputation.dnsbl.zen"].detail


@pytest.mark.parametrize("refusal", ["127.255.255.254", "127.255.255.255", "127.255.255.252"])
def test_a_refusal_code_is_never_a_listing(refusal: str) -> None:
    """Spamhaus answers queries from public resolvers with 127.255.255.x: no verdict."""
    resolver = StaticResolver({**TEST_POINT, ("66.113.0.203.zen.test", "A"): [refusal]})
    found = signals(resolver)
    assert "ip_reputation.dnsbl.zen" not in found or found["ip_reputation.dnsbl.zen"].score <= 0


def test_a_list_that_times_out_is_unknown_not_listed() -> None:
    resolver = StaticResolver({**TEST_POINT}, failing=("66.113.0.203.zen.test",))
    found = signals(resolver)
    assert "ip_reputation.dnsbl.zen" not in found
    unknown = found["ip_reputation.dnsbl_unknown"]
    assert unknown.score == 0 and "timeout" in unknown.detail
    assert unknown.potential == 4.0  # what it might have been worth: the list's strongest code


def test_a_pointer_that_resolves_back_is_confirmed_and_none_is_no_ptr() -> None:
    confirmed = StaticResolver({**TEST_POINT, ("66.113.0.203.in-addr.arpa", "PTR"): ["mail.sender.test."],
                                ("mail.sender.test", "A"): [LISTED]})
    assert "ip_reputation.no_ptr" not in signals(confirmed)
    assert signals(StaticResolver(TEST_POINT))["ip_reputation.no_ptr"].score == 1.0
