"""Sender domain age through real loopback servers: RDAP (bootstrap pointing at a
loopback HTTP server), WHOIS for a TLD without RDAP, and a DNS age zone. Ages are
relative to now, as the registries would publish them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from spoofguard.assembly import build_analyzer
from spoofguard.config import parse
from spoofguard.verdict import Signal, SignalKind
from tests.support.analysis import analyze, message_bytes
from tests.support.dns_server import LoopbackDNS
from tests.support.milter_process import loopback_config
from tests.support.rdap_server import LoopbackRDAP
from tests.support.whois_server import LoopbackWHOIS, se_record

NOW = datetime.now(UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture(scope="module")
def rdap() -> Iterator[LoopbackRDAP]:
    with LoopbackRDAP() as server:
        server.add_domain("fresh.test", ago(3))
        server.add_domain("month.test", ago(20))
        server.add_domain("quarter.test", ago(60))
        server.add_domain("old.test", ago(3650))
        server.add_domain("sender.test", ago(4000))
        server.add_domain("reborn.test", ago(5000), {"reregistration": ago(2)})
        server.add_domain("moved.test", ago(6000), {"transfer": ago(4)})
        server.add_domain("touched.test", ago(6000), {"last changed": ago(1)})
        server.add_domain("dormant.test", ago(5000))
        server.add_domain("example.test", ago(1))  # the recipients' own, brand new domain
        server.add_domain("mycorp.test", ago(1))
        server.add_domain("rnycorp.test", ago(3))  # a lookalike of mycorp.test, days old
        server.add_domain("myc0rp.test", ago(5500))  # one that has existed for fifteen years
        yield server


@pytest.fixture(scope="module")
def dns() -> Iterator[LoopbackDNS]:
    with LoopbackDNS() as server:
        server.add("dormant.test.zrd.test", "A", "127.0.2.5")  # newly active after years
        server.add("old.test.refusing-zrd.test", "A", "127.255.255.254")
        yield server


@pytest.fixture(scope="module")
def whois() -> Iterator[LoopbackWHOIS]:
    with LoopbackWHOIS() as server:
        server.add("nyligen.se", se_record("nyligen.se", (NOW - timedelta(days=2)).strftime("%Y-%m-%d"),
                                           (NOW - timedelta(days=2)).strftime("%Y-%m-%d"), "2027-12-01"))
        yield server


def build(tmp_path: Path, dns: LoopbackDNS, rdap: LoopbackRDAP, **age: Any):  # type: ignore[no-untyped-def]
    bootstrap = tmp_path / "dns.json"
    bootstrap.write_text(json.dumps(rdap.bootstrap_for(["test"])))
    config = loopback_config(dns.port, tmp_path, checks={
        "auth": {"verify": "never"}, "content": {"enabled": False}, "ip_reputation": {"enabled": False},
        "impersonation": {"own_domains": ["mycorp.test"]},
        "domain_age": {"rdap_bootstrap": str(bootstrap), "rdap_timeout": 1.5, **age},
    }, cache={"backend": "sqlite", "path": str(tmp_path / "cache.sqlite")})
    return build_analyzer(parse(config, tmp_path / "spoofguard.toml"))


def age_signals(verdict: Any) -> dict[str, Signal]:
    return {s.name: s for s in verdict.signals if s.name.startswith("domain_age.")}


def from_(domain: str) -> bytes:
    return message_bytes(f"Someone <someone@{domain}>")


@pytest.mark.parametrize(("domain", "weight", "band"), [
    ("fresh.test", 3.0, "younger than 7 days"),
    ("month.test", 1.5, "younger than 30 days"),
    ("quarter.test", 0.5, "younger than 90 days"),
])
def test_young_from_domain_is_graded(tmp_path: Path, dns: LoopbackDNS, rdap: LoopbackRDAP, domain: str, weight: float, band: str) -> None:
    verdict, _ = analyze(build(tmp_path, dns, rdap), from_(domain), mail_from=f"bounce@{domain}")
    young = age_signals(verdict)["domain_age.young"]
    assert young.score == weight and young.kind is SignalKind.SENDER_RISK
    assert f"From and envelope domain {domain} registered" in young.detail
    assert band in young.detail and "RDAP" in young.detail


def test_old_domain_is_shown_not_scored(tmp_path: Path, dns: LoopbackDNS, rdap: LoopbackRDAP) -> None:
    verdict, _ = analyze(build(tmp_path, dns, rdap), from_("old.test"), mail_from="bounce@old.test")
    found = age_signals(verdict)
    assert set(found) == {"domain_age.age"}
    assert found["domain_age.age"].score == 0.0 and "10 years ago" in found["domain_age.age"].detail


def test_youngest_of_from_envelope_and_dkim_counts_and_is_named(tmp_path: Path, dns: LoopbackDNS, rdap: LoopbackRDAP) -> None:
    dkim = "DKIM-Signature: v=1; a=rsa-sha256; d=month.test; s=sel; h=from; bh=AAAA; b=AAAA\r\n"
    data = message_bytes("News <news@old.test>", extra=dkim)
    verdict, _ = analyze(build(tmp_path, dns, rdap), data, mail_from="bounce@fresh.test")
    found = [s for s in verdict.signals if s.name.startswith("domain_age.")]
    young = next(s for s in found if s.name == "domain_age.young")
    assert young.score == 3.0 and "envelope domain fresh.test" in young.detail
    shown = " ".join(s.detail for s in found if s.name == "domain_age.age")
    assert "From domain old.test" in shown and "DKIM domain month.test" in shown


@pytest.mark.parametrize(("domain", "basis"), [("reborn.test", "re-registered"), ("moved.test", "transferred")])
def test_reregistered_or_transferred_domain_counts_as_new(tmp_path: Path, dns: LoopbackDNS, rdap: LoopbackRDAP, domain: str, basis: str) -> None:
    verdict, _ = analyze(build(tmp_path, dns, rdap), from_(domain), mail_from=f"b@{domain}")
    young = age_signals(verdict)["domain_age.young"]
    assert young.score == 3.0 and f"{domain} {basis}" in young.detail


def test_recent_change_on_an_old_domain_is_a_weak_signal(tmp_path: Path, dns: LoopbackDNS, rdap: LoopbackRDAP) -> None:
    verdict, _ = analyze(build(tmp_path, dns, rdap), from_("touched.test"), mail_from="b@touched.test")
    found = age_signals(verdict)
    assert found["domain_age.recently_changed"].score == 1.0
    assert "domain_age.young" not in found


def test_own_recipient_and_allowlisted_domains_are_never_aged(tmp_path: Path, dns: LoopbackDNS, rdap: LoopbackRDAP) -> None:
    analyzer = build(tmp_path, dns, rdap, allowlist=["fresh.test"])
    before = {d: rdap.count(d) for d in ("example.test", "mycorp.test", "fresh.test")}
    for sender in ("it@example.test", "boss@mycorp.test", "news@fresh.test"):
        verdict, _ = analyze(analyzer, message_bytes(f"X <{sender}>"), mail_from=sender, rcpts=("alice@example.test",))
        assert age_signals(verdict) == {}, sender
    assert {d: rdap.count(d) for d in before} == before


def test_dns_age_zone_reveals_a_dormant_domain_newly_active(tmp_path: Path, dns: LoopbackDNS, rdap: LoopbackRDAP) -> None:
    zones = [{"name": "zrd", "zone": "zrd.test"}, {"name": "refusing", "zone": "refusing-zrd.test"}]
    analyzer = build(tmp_path, dns, rdap, zone=zones)
    verdict, _ = analyze(analyzer, from_("dormant.test"), mail_from="b@dormant.test")
    young = age_signals(verdict)["domain_age.young"]
    assert young.score == 3.0 and "first seen about 5 hours ago" in young.detail and "zone zrd" in young.detail
    verdict, _ = analyze(analyzer, from_("old.test"), mail_from="b@old.test")
    found = age_signals(verdict)
    assert "domain_age.young" not in found
    assert "127.255.255.254" in found["domain_age.zone_note"].detail


def test_registry_errors_are_unknown_never_young(tmp_path: Path, dns: LoopbackDNS, rdap: LoopbackRDAP) -> None:
    rdap.respond("err.test", 500, "internal error", times=1)
    rdap.respond("junk.test", 200, "<html>not json</html>", times=1)
    analyzer = build(tmp_path, dns, rdap)
    for domain in ("err.test", "junk.test"):
        verdict, _ = analyze(analyzer, from_(domain), mail_from=f"b@{domain}")
        unknown = age_signals(verdict)["domain_age.unknown"]
        assert unknown.score == 0.0 and unknown.kind is SignalKind.ERROR and unknown.potential == 3.0
        assert verdict.score == 0.0


def test_rate_limited_then_answered(tmp_path: Path, dns: LoopbackDNS, rdap: LoopbackRDAP) -> None:
    rdap.add_domain("busy.test", ago(2))
    rdap.respond("busy.test", 429, '{"errorCode": 429}', {"Retry-After": "1"}, times=1)
    verdict, _ = analyze(build(tmp_path, dns, rdap), from_("busy.test"), mail_from="b@busy.test")
    assert age_signals(verdict)["domain_age.young"].score == 3.0
    assert rdap.count("busy.test") == 2


def test_second_message_is_answered_from_the_cache(tmp_path: Path, dns: LoopbackDNS, rdap: LoopbackRDAP) -> None:
    rdap.add_domain("cached.test", ago(5))
    analyzer = build(tmp_path, dns, rdap)
    first, _ = analyze(analyzer, from_("cached.test"), mail_from="b@cached.test")
    second, _ = analyze(analyzer, from_("cached.test"), mail_from="b@cached.test")
    assert rdap.count("cached.test") == 1
    assert "RDAP, cached" in age_signals(second)["domain_age.young"].detail
    assert age_signals(first)["domain_age.young"].score == age_signals(second)["domain_age.young"].score


def test_whois_only_tld(tmp_path: Path, dns: LoopbackDNS, rdap: LoopbackRDAP, whois: LoopbackWHOIS) -> None:
    analyzer = build(tmp_path, dns, rdap, whois=True, whois_servers={"se": f"127.0.0.1:{whois.port}"})
    verdict, _ = analyze(analyzer, from_("nyligen.se"), mail_from="b@nyligen.se")
    young = age_signals(verdict)["domain_age.young"]
    assert young.score == 3.0 and "WHOIS" in young.detail


def test_a_lookalike_registered_days_ago_weighs_more_and_one_from_years_ago_less(
        tmp_path: Path, dns: LoopbackDNS, rdap: LoopbackRDAP) -> None:
    analyzer = build(tmp_path, dns, rdap)
    fresh, _ = analyze(analyzer, from_("rnycorp.test"), mail_from="someone@rnycorp.test")
    found = {s.name: s.score for s in fresh.signals if s.score}
    assert found["impersonation.lookalike_domain"] == 3.5
    assert found["domain_age.young_lookalike"] == 1.5
    assert found["domain_age.young"] == 3.0

    old, _ = analyze(analyzer, from_("myc0rp.test"), mail_from="someone@myc0rp.test")
    found = {s.name: s.score for s in old.signals if s.score}
    assert found["impersonation.lookalike_domain"] == 3.5
    assert found["domain_age.established_lookalike"] == -2.5  # a fifteen-year-old name: weak
    assert "domain_age.young" not in found
