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


def _probe_lines(caplog: pytest.LogCaptureFixture, resolver: StaticResolver, zone: str) -> list[str]:
    """What one start (or reload) of the check logs about ``zone``'s probe."""
    caplog.clear()
    section = DnsListSection(zone=zone, codes={"127.0.0.2": "SBL"}, weights={"SBL": 4.0})
    IpReputationCheck(IpReputationSection(dnsbl=(section,)), resolver)  # type: ignore[arg-type]
    wait_until(lambda: not any(t.name == "dnsbl-probe" for t in threading.enumerate()), 5)
    return [r.getMessage() for r in caplog.records if zone in r.getMessage()]


def test_a_resolver_that_cannot_answer_is_named_once_not_at_every_reload(caplog: pytest.LogCaptureFixture) -> None:
    """The probe blames the resolver, not the list, and a reload that finds the same says
    nothing more; when the resolver answers again, one line says the list is back."""
    caplog.set_level("INFO")
    down = StaticResolver({}, failing=("2.0.0.127.resolver-down.test",))
    [first] = _probe_lines(caplog, down, "resolver-down.test")
    assert "could not be probed: DNS lists need a local recursive resolver (unbound)" in first
    assert "wrong zone" not in first
    assert _probe_lines(caplog, down, "resolver-down.test") == []  # a reload, same state: quiet
    up = StaticResolver({("2.0.0.127.resolver-down.test", "A"): ["127.0.0.2"]})
    assert _probe_lines(caplog, up, "resolver-down.test") == ["DNS list resolver-down.test answers its test points"]
