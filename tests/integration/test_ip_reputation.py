"""Connecting-IP reputation against a real DNS server on loopback: DNS block- and
allowlists with their return codes, refusal codes that must not count, IPv6 nibble
queries, origin AS, forward-confirmed reverse DNS, the Received walk behind trusted
relays, outages and the cache."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spoofguard.assembly import build_analyzer
from spoofguard.checks.ip_reputation.check import IpReputationCheck
from spoofguard.config import parse
from spoofguard.verdict import Signal, SignalKind
from tests.support.analysis import analyze, message_bytes
from tests.support.dns_server import LoopbackDNS, wait_until
from tests.support.milter_process import loopback_config

LISTED = "203.0.113.66"  # in bl.test as SBL, in bits.test with two bits
CLEAN = "203.0.113.10"  # PTR mail.sender.test, confirmed; in the allowlist wl.test
V6 = "2001:db8::66"  # in bl.test as XBL, by nibbles
HOSTING = "198.51.100.9"  # originates from AS64500, which local policy weights

BL = {"name": "bl", "zone": "bl.test", "weight": 2.0,
      "codes": {"127.0.0.2": "SBL", "127.0.0.4-127.0.0.7": "XBL", "127.0.0.10": "PBL"},
      "weights": {"SBL": 4.0, "XBL": 3.5}}
BITS = {"name": "bits", "zone": "bits.test", "bitmask": True, "weight": 1.0,
        "codes": {"2": "spam source", "4": "phishing"}, "weights": {"phishing": 2.5}}
WL = {"name": "wl", "zone": "wl.test", "allowlist": True, "weight": -1.0,
      "codes": {"127.0.10.1": "low trust", "127.0.10.3": "high trust"}, "weights": {"high trust": -2.0}}
REFUSING = {"name": "refusing", "zone": "refusing.test", "weight": 5.0, "codes": {"127.0.0.2": "listed"}}
HIJACKED = {"name": "hijacked", "zone": "hijacked.test", "weight": 5.0}


def reverse(ip: str) -> str:
    address = ipaddress.ip_address(ip)
    if address.version == 4:
        return ".".join(reversed(ip.split(".")))
    return ".".join(reversed(address.exploded.replace(":", "")))


def serve_list(dns: LoopbackDNS, zone: str, entries: dict[str, str], *, test_points: bool = True) -> None:
    if test_points:
        dns.add(f"2.0.0.127.{zone}", "A", "127.0.0.2")
    for ip, answer in entries.items():
        dns.add(f"{reverse(ip)}.{zone}", "A", answer)


@pytest.fixture(scope="module")
def dns() -> Iterator[LoopbackDNS]:
    with LoopbackDNS() as server:
        serve_list(server, "bl.test", {LISTED: "127.0.0.2", V6: "127.0.0.4"})
        serve_list(server, "bits.test", {LISTED: "127.0.0.6"})
        serve_list(server, "wl.test", {CLEAN: "127.0.10.3"})
        # a list queried through a public resolver: every answer is a refusal code
        serve_list(server, "refusing.test", {LISTED: "127.255.255.254"}, test_points=False)
        server.add("2.0.0.127.refusing.test", "A", "127.255.255.254")
        # a list whose domain lapsed and now answers everything with a web server's address
        serve_list(server, "hijacked.test", {LISTED: "192.0.2.80"}, test_points=False)
        server.add("2.0.0.127.hijacked.test", "A", "192.0.2.80")
        server.add("1.0.0.127.hijacked.test", "A", "192.0.2.80")
        server.add_ptr(CLEAN, "mail.sender.test")
        server.add("mail.sender.test", "A", CLEAN)
        server.add_ptr(HOSTING, "static.hosting.test")  # resolves nowhere: a mismatch
        server.add_txt(f"{reverse(HOSTING)}.origin.asn.test", "64500 | 198.51.100.0/24 | ZZ | test | 2019-04-01")
        server.add_txt(f"{reverse(LISTED)}.origin.asn.test", "64999 | 203.0.113.0/24 | ZZ | test | 2010-01-01")
        yield server


def build(dns: LoopbackDNS, tmp_path: Path, lists: list[dict[str, Any]], **ipr: Any):  # type: ignore[no-untyped-def]
    config = loopback_config(dns.port, tmp_path, checks={
        "auth": {"enabled": False}, "impersonation": {"enabled": False}, "content": {"enabled": False},
        "domain_age": {"enabled": False},
        "ip_reputation": {"dnsbl": lists, "asn_zone": "origin.asn.test", "asn6_zone": "origin6.asn.test",
                          "asn_weights": {"AS64500": 2.0}, **ipr},
    }, cache={"backend": "memory"})
    network = ipr.pop("trusted_networks", None)
    if network:
        config["network"] = {"trusted_networks": network}
        config["checks"]["ip_reputation"].pop("trusted_networks")
    analyzer = build_analyzer(parse(config, tmp_path / "spoofguard.toml"))
    check = next(c for c in analyzer.checks if isinstance(c, IpReputationCheck))
    wait_until(lambda: all(check.health.health(lst.name).usable is False or _probed(dns, lst.zone) for lst in check.lists), 5)
    return analyzer, check


def _probed(dns: LoopbackDNS, zone: str) -> bool:
    return dns.count(f"2.0.0.127.{zone}", "A") > 0 and dns.count(f"1.0.0.127.{zone}", "A") > 0


def signals(verdict: Any, prefix: str = "ip_reputation.") -> dict[str, Signal]:
    return {s.name: s for s in verdict.signals if s.name.startswith(prefix)}


def test_listed_ipv4_maps_its_code_and_weight(dns: LoopbackDNS, tmp_path: Path) -> None:
    analyzer, _ = build(dns, tmp_path, [BL, BITS])
    verdict, _ = analyze(analyzer, message_bytes(), ip=LISTED)
    found = signals(verdict)
    assert found["ip_reputation.dnsbl.bl"].score == 4.0
    assert "SBL (127.0.0.2)" in found["ip_reputation.dnsbl.bl"].detail
    assert found["ip_reputation.dnsbl.bl"].kind is SignalKind.SENDER_RISK
    # 127.0.0.6 is bits 2 and 4: both meanings, the stronger weight
    assert found["ip_reputation.dnsbl.bits"].score == 2.5
    assert "spam source, phishing" in found["ip_reputation.dnsbl.bits"].detail
    assert found["ip_reputation.no_ptr"].score == 1.0


def test_listed_ipv6_is_queried_by_nibbles(dns: LoopbackDNS, tmp_path: Path) -> None:
    analyzer, _ = build(dns, tmp_path, [BL])
    verdict, _ = analyze(analyzer, message_bytes(), ip=V6)
    listed = signals(verdict)["ip_reputation.dnsbl.bl"]
    assert listed.score == 3.5 and "XBL (127.0.0.4)" in listed.detail
    assert dns.count(f"{reverse(V6)}.bl.test", "A") >= 1


def test_unlisted_ip_and_allowlist_with_negative_weight(dns: LoopbackDNS, tmp_path: Path) -> None:
    analyzer, _ = build(dns, tmp_path, [BL, WL])
    verdict, _ = analyze(analyzer, message_bytes(), ip=CLEAN)
    found = signals(verdict)
    assert found["ip_reputation.dnsbl.bl"].score == 0.0
    assert "not listed" in found["ip_reputation.dnsbl.bl"].detail
    assert found["ip_reputation.dnswl.wl"].score == -2.0
    assert found["ip_reputation.dnswl.wl"].kind is SignalKind.INFO  # never sender risk
    assert found["ip_reputation.fcrdns_pass"].score == 0.0


def test_refusal_code_is_never_a_listing_and_the_list_is_marked_unusable(dns: LoopbackDNS, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    analyzer, check = build(dns, tmp_path, [REFUSING, HIJACKED, BL])
    assert wait_until(lambda: not check.health.health("refusing").usable and not check.health.health("hijacked").usable, 5)
    verdict, _ = analyze(analyzer, message_bytes(), ip=LISTED)
    found = signals(verdict)
    unusable = [s for s in verdict.signals if s.name == "ip_reputation.dnsbl_unusable"]
    assert {s.detail.split(" ")[0] for s in unusable} == {"refusing.test", "hijacked.test"}
    assert all(s.score == 0.0 for s in unusable)
    assert any("127.255.255.254" in s.detail and "public or open resolver" in s.detail for s in unusable)
    assert any("outside 127.0.0.0/8" in s.detail for s in unusable)
    assert found["ip_reputation.dnsbl.bl"].score == 4.0  # the healthy list still counts
    assert verdict.score == 4.0 + 1.0  # SBL + no PTR; nothing from the broken lists


def test_refusal_seen_on_a_live_query_marks_the_list_and_warns_once(dns: LoopbackDNS, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # the test point answers properly, but live queries get refused (a rate limit kicking in)
    dns.add("2.0.0.127.flaky.test", "A", "127.0.0.2")
    dns.add(f"{reverse(LISTED)}.flaky.test", "A", "127.255.255.255")
    dns.add(f"{reverse(CLEAN)}.flaky.test", "A", "127.255.255.255")
    analyzer, check = build(dns, tmp_path, [{"name": "flaky", "zone": "flaky.test", "weight": 5.0}])
    with caplog.at_level("WARNING"):
        first, _ = analyze(analyzer, message_bytes(), ip=LISTED)
        second, _ = analyze(analyzer, message_bytes(), ip=CLEAN)
    for verdict in (first, second):
        assert signals(verdict)["ip_reputation.dnsbl_unusable"].score == 0.0
    assert "too many queries" in signals(first)["ip_reputation.dnsbl_unusable"].detail
    warnings = [r for r in caplog.records if "flaky.test is unusable" in r.getMessage()]
    assert len(warnings) == 1


def test_origin_as_weighted_by_local_policy(dns: LoopbackDNS, tmp_path: Path) -> None:
    analyzer, _ = build(dns, tmp_path, [])
    verdict, _ = analyze(analyzer, message_bytes(), ip=HOSTING)
    asn = signals(verdict)["ip_reputation.asn"]
    assert asn.score == 2.0 and "AS64500" in asn.detail and "198.51.100.0/24" in asn.detail
    assert signals(verdict)["ip_reputation.ptr_mismatch"].score == 0.5
    verdict, _ = analyze(analyzer, message_bytes(), ip=LISTED)
    assert signals(verdict)["ip_reputation.asn"].score == 0.0  # AS64999 has no weight: shown only
    assert "AS64999" in signals(verdict)["ip_reputation.asn"].detail


def test_received_walk_behind_trusted_relays_judges_the_first_outside_hop(dns: LoopbackDNS, tmp_path: Path) -> None:
    analyzer, _ = build(dns, tmp_path, [BL], trusted_networks=["10.20.0.0/16"])
    received = (
        "Received: from relay2.corp.test (relay2.corp.test [10.20.0.7]) by relay1.corp.test with ESMTP id B\r\n"
        f"Received: from bad.example (unknown [{LISTED}]) by relay2.corp.test (Postfix) with ESMTP id A\r\n"
        "Received: from laptop (unknown [192.168.1.20]) by bad.example with ESMTP id Z\r\n"
    )
    verdict, _ = analyze(analyzer, message_bytes(extra=received), ip="10.20.0.5")
    found = signals(verdict)
    assert "from Received header 2" in found["ip_reputation.relay"].detail
    assert found["ip_reputation.dnsbl.bl"].score == 4.0


def test_private_client_is_never_looked_up(dns: LoopbackDNS, tmp_path: Path) -> None:
    analyzer, _ = build(dns, tmp_path, [BL])
    verdict, _ = analyze(analyzer, message_bytes(), ip="192.168.7.7")
    assert list(signals(verdict)) == ["ip_reputation.not_public"]
    # nothing about the address left this host (other checks' list probes may still run)
    assert [name for name, _ in dns.queries if "7.7.168.192" in name] == []


def test_second_message_from_the_same_ip_is_answered_from_the_cache(dns: LoopbackDNS, tmp_path: Path) -> None:
    analyzer, _ = build(dns, tmp_path, [BL])
    name = f"{reverse(LISTED)}.bl.test"
    first, _ = analyze(analyzer, message_bytes(), ip=LISTED)
    asked = dns.count(name, "A")
    second, _ = analyze(analyzer, message_bytes(), ip=LISTED)
    assert dns.count(name, "A") == asked
    assert signals(first)["ip_reputation.dnsbl.bl"] == signals(second)["ip_reputation.dnsbl.bl"]


def test_dns_that_never_answers_gives_unknown_within_the_budget(tmp_path: Path) -> None:
    with LoopbackDNS(mode="drop") as silent:
        analyzer, _ = build(silent, tmp_path, [BL])
        started = time.monotonic()
        verdict, _ = analyze(analyzer, message_bytes(), ip=LISTED)
        elapsed = time.monotonic() - started
    assert elapsed < 5.0  # the per-message budget used by analyze()
    found = signals(verdict)
    assert found["ip_reputation.dnsbl_unknown"].kind is SignalKind.ERROR
    assert found["ip_reputation.dnsbl_unknown"].potential == 4.0
    assert found["ip_reputation.fcrdns_unknown"].score == 0.0
    assert verdict.score == 0.0
