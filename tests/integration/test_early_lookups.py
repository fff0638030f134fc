"""Early-started lookups against a real DNS server on loopback.

A lookup begun at connect must be finished by end-of-message, so the verdict does not wait
for it; a DNS server that never answers must cost at most the budget and leave the check
*unknown*, not failed.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from spoofguard.checks import Stage
from spoofguard.checks.ip_reputation.check import IpReputationCheck, IpReputationSection
from spoofguard.core import Analyzer
from spoofguard.lookups import LookupSession
from spoofguard.lookups.dns import DnsClient, DnsSection
from spoofguard.message import Envelope, Message
from spoofguard.policy import Policy
from spoofguard.verdict import Action, SignalKind
from tests.support.dns_server import LoopbackDNS

CLIENT = "198.51.100.23"
DELAY = 0.4


def analyzer_for(server: LoopbackDNS, timeout: float = 2.0) -> Analyzer:
    dns = DnsClient(DnsSection(nameservers=("127.0.0.1",), port=server.port, timeout=timeout))
    return Analyzer([IpReputationCheck(IpReputationSection(), dns)], Policy(on_error="tempfail"))


def message() -> Message:
    return Message.from_bytes(b"From: a@b.test\r\nSubject: hi\r\n\r\nhello\r\n", Envelope(client_ip=CLIENT))


def test_lookup_started_at_connect_is_done_by_end_of_message() -> None:
    with LoopbackDNS(delay=DELAY) as server, ThreadPoolExecutor(4) as pool:
        server.add_ptr(CLIENT, "mx.sender.test")
        server.add("mx.sender.test", "A", CLIENT)
        analyzer = analyzer_for(server)
        msg = message()
        session = LookupSession(pool, budget=5.0, default_timeout=3.0)

        analyzer.prefetch(Stage.CONNECT, msg, session)  # connect: the PTR query leaves now
        time.sleep(2 * DELAY + 0.3)  # HELO, MAIL, RCPT, DATA: the SMTP dialogue goes on
        started = time.perf_counter()
        verdict = analyzer.analyze(msg, session)
        waited = time.perf_counter() - started

        assert [s.name for s in verdict.signals] == ["ip_reputation.fcrdns_pass"]
        assert waited < DELAY / 2, f"end-of-message waited {waited:.3f}s for a lookup begun at connect"
        assert server.count(rtype="PTR") == 1 and server.count("mx.sender.test", "A") == 1


def test_without_early_start_end_of_message_waits_for_the_lookups() -> None:
    """The contrast that shows the overlap above is real and not a fast server."""
    with LoopbackDNS(delay=DELAY) as server, ThreadPoolExecutor(4) as pool:
        server.add_ptr(CLIENT, "mx.sender.test")
        server.add("mx.sender.test", "A", CLIENT)
        session = LookupSession(pool, budget=5.0, default_timeout=3.0)
        started = time.perf_counter()
        verdict = analyzer_for(server).analyze(message(), session)
        assert [s.name for s in verdict.signals] == ["ip_reputation.fcrdns_pass"]
        assert time.perf_counter() - started >= 2 * DELAY * 0.9  # PTR then A, in sequence


def test_silent_dns_server_gives_unknown_within_budget_and_tempfail_policy() -> None:
    pool = ThreadPoolExecutor(4)
    with LoopbackDNS(mode="drop") as server:
        analyzer = analyzer_for(server, timeout=5.0)
        msg = message()
        session = LookupSession(pool, budget=0.6, default_timeout=5.0)
        analyzer.prefetch(Stage.CONNECT, msg, session)
        started = time.perf_counter()
        verdict = analyzer.analyze(msg, session)
        assert time.perf_counter() - started < 1.2
        [signal] = verdict.signals
        assert signal.kind is SignalKind.ERROR and signal.name == "ip_reputation.fcrdns_unknown"
        assert "budget" in signal.detail
        # no_ptr alone could not reach tag (1.0 < 4.0), so the unknown does not force a tempfail
        assert verdict.action is Action.ACCEPT
    pool.shutdown(wait=False, cancel_futures=True)


def test_servfail_is_unknown_not_a_missing_ptr() -> None:
    with LoopbackDNS(mode="servfail") as server:
        analyzer = analyzer_for(server)
        verdict = analyzer.analyze(message(), LookupSession(None, budget=2.0, default_timeout=2.0))
        [signal] = verdict.signals
        assert signal.name == "ip_reputation.fcrdns_unknown" and signal.score == 0
        assert "SERVFAIL" in signal.detail


def test_missing_ptr_and_mismatch_are_sender_risk() -> None:
    with LoopbackDNS() as server:
        server.add_ptr("198.51.100.99", "spoofed.bank.test")  # name without an A back to it
        analyzer = analyzer_for(server)
        no_ptr = analyzer.analyze(message(), LookupSession(None, 2.0, 2.0))
        assert [(s.name, s.score, s.kind) for s in no_ptr.signals] == [
            ("ip_reputation.no_ptr", 1.0, SignalKind.SENDER_RISK)
        ]
        other = Message.from_bytes(b"Subject: x\r\n\r\n", Envelope(client_ip="198.51.100.99"))
        mismatch = analyzer.analyze(other, LookupSession(None, 2.0, 2.0))
        assert [s.name for s in mismatch.signals] == ["ip_reputation.ptr_mismatch"]
        assert "spoofed.bank.test" in mismatch.signals[0].detail


def test_private_and_loopback_clients_are_never_looked_up() -> None:
    with LoopbackDNS() as server:
        analyzer = analyzer_for(server)
        for ip in ("10.1.2.3", "192.168.1.5", "fe80::1"):
            msg = Message.from_bytes(b"Subject: x\r\n\r\n", Envelope(client_ip=ip))
            verdict = analyzer.analyze(msg, LookupSession(None, 2.0, 2.0))
            assert [s.name for s in verdict.signals] == ["ip_reputation.not_public"]
        for ip in ("127.0.0.1", "::1"):  # submitted on this host: accepted unjudged
            msg = Message.from_bytes(b"Subject: x\r\n\r\n", Envelope(client_ip=ip))
            verdict = analyzer.analyze(msg, LookupSession(None, 2.0, 2.0))
            assert [s.name for s in verdict.signals] == ["local.submission"]
        assert server.count() == 0
