"""Sender authentication against a real DNS server on loopback: SPF, DKIM, DMARC, ARC,
trusted and forged Authentication-Results. Messages are signed with keys made for the run;
nothing mocks the resolver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from spoofguard.assembly import build_analyzer
from spoofguard.config import parse
from spoofguard.edits import AddHeader, ChangeHeader
from spoofguard.verdict import SignalKind
from tests.support.analysis import IP, Seen, analyze, message_bytes, names
from tests.support.dkim_keys import arc_seal, rsa_key, sign
from tests.support.dns_server import LoopbackDNS
from tests.support.milter_process import loopback_config

OTHER_IP = "198.51.100.77"  # someone else's server
LIST_IP = "203.0.113.40"  # a mailing list server


@pytest.fixture(scope="module")
def dns() -> Iterator[LoopbackDNS]:
    key_news, txt_news = rsa_key("news")
    key_list, txt_list = rsa_key("list")
    with LoopbackDNS() as server:
        # news.test: SPF for IP, DKIM key, DMARC p=reject
        server.add_txt("news.test", f"v=spf1 ip4:{IP} -all")
        server.add_txt("sel._domainkey.news.test", txt_news)
        server.add_txt("_dmarc.news.test", "v=DMARC1; p=reject; rua=mailto:d@news.test")
        # esp.test: a mail service provider that sends for news.test (SPF for its own domain)
        server.add_txt("esp.test", f"v=spf1 ip4:{IP} -all")
        server.add_txt("softfail.test", "v=spf1 ~all")
        server.add_txt("_dmarc.softfail.test", "v=DMARC1; p=none")
        # strict.test: subdomain policy differs from the organizational one
        server.add_txt("_dmarc.strict.test", "v=DMARC1; p=none; sp=reject")
        # example.co.uk: only the organizational domain publishes DMARC
        server.add_txt("_dmarc.example.co.uk", "v=DMARC1; p=quarantine")
        server.add_txt("a.b.example.co.uk", f"v=spf1 ip4:{IP} -all")
        # loop.test: an SPF record needing more than 10 DNS lookups
        server.add_txt("loop.test", "v=spf1 " + " ".join(f"include:i{n}.loop.test" for n in range(12)) + " -all")
        for n in range(12):
            server.add_txt(f"i{n}.loop.test", "v=spf1 ?all")
        # lists.test: a mailing list and trusted ARC sealer
        server.add_txt("arc._domainkey.lists.test", txt_list)
        server.add_txt("lists.test", f"v=spf1 ip4:{LIST_IP} -all")
        yield server


def analyzer_for(dns: LoopbackDNS, tmp_path: Path, **auth: object):  # type: ignore[no-untyped-def]
    config = loopback_config(dns.port, tmp_path, checks={
        "auth": {"authserv_id": "mx.example.test", **auth}, "content": {"enabled": False}, "ip_reputation": {"enabled": False}})
    return build_analyzer(parse(config, tmp_path / "spoofguard.toml"))


def our_header(seen: Seen) -> str:
    value = next(e.value for e in seen.edits if isinstance(e, AddHeader) and e.name == "Authentication-Results")
    return " ".join(value.split())  # unfolded


# -- SPF ----------------------------------------------------------------------------------


def test_spf_pass_fail_softfail_none_permerror(dns: LoopbackDNS, tmp_path: Path) -> None:
    a = analyzer_for(dns, tmp_path)
    data = message_bytes("News <news@news.test>")
    cases = {
        ("bounce@news.test", IP): "auth.spf_pass",
        ("bounce@news.test", OTHER_IP): "auth.spf_fail",
        ("x@softfail.test", IP): "auth.spf_softfail",
        ("x@nospf.test", IP): "auth.spf_none",
        ("x@loop.test", IP): "auth.spf_permerror",
    }
    for (mail_from, ip), expected in cases.items():
        verdict, seen = analyze(a, data, ip=ip, mail_from=mail_from)
        assert expected in names(verdict), (mail_from, ip, names(verdict))
        result = expected.removeprefix("auth.spf_")
        assert f"spf={result} smtp.mailfrom={mail_from}" in our_header(seen)
    verdict, _ = analyze(a, data, mail_from="x@loop.test")
    detail = next(s.detail for s in verdict.signals if s.name == "auth.spf_permerror")
    assert "lookup" in detail.lower()


def test_null_sender_checks_helo(dns: LoopbackDNS, tmp_path: Path) -> None:
    verdict, seen = analyze(analyzer_for(dns, tmp_path), message_bytes("News <news@news.test>"), mail_from=None, helo="news.test")
    assert "auth.spf_pass" in names(verdict)
    assert "smtp.helo=news.test" in our_header(seen)


# -- DKIM and DMARC -----------------------------------------------------------------------


def test_dkim_pass_gives_dmarc_pass_by_aligned_dkim_only(dns: LoopbackDNS, tmp_path: Path) -> None:
    key, _ = rsa_key("news")
    signed = sign(message_bytes("News <news@news.test>"), "news.test", "sel", key)
    # envelope at the ESP: SPF passes for esp.test, which does not align with news.test
    verdict, seen = analyze(analyzer_for(dns, tmp_path), signed, mail_from="bounce@esp.test")
    got = names(verdict)
    assert got["auth.dkim_pass"] == 0 and got["auth.spf_pass"] == 0
    assert got["auth.dmarc_pass"] < 0
    summary = seen.summary
    assert summary is not None and summary.dmarc.aligned_dkim == "news.test" and summary.dmarc.aligned_spf is None
    header = our_header(seen)
    assert "dkim=pass header.d=news.test header.s=sel" in header and "dmarc=pass" in header


def test_dmarc_pass_by_aligned_spf_only(dns: LoopbackDNS, tmp_path: Path) -> None:
    verdict, seen = analyze(analyzer_for(dns, tmp_path), message_bytes("News <news@news.test>"))
    summary = seen.summary
    assert summary is not None and summary.dmarc.result == "pass"
    assert summary.dmarc.aligned_spf == "news.test" and summary.dmarc.aligned_dkim is None
    assert "auth.dkim_none" in names(verdict)


def test_altered_body_fails_dkim_and_dmarc_reject_is_strong(dns: LoopbackDNS, tmp_path: Path) -> None:
    key, _ = rsa_key("news")
    signed = sign(message_bytes("News <news@news.test>"), "news.test", "sel", key)
    tampered = signed.replace(b"Numbers attached.", b"Numbers attached!")
    verdict, seen = analyze(analyzer_for(dns, tmp_path), tampered, mail_from="bounce@esp.test")
    got = names(verdict)
    assert got["auth.dkim_fail"] > 0
    assert got["auth.dmarc_fail_reject"] == 5.0
    fail = next(s for s in verdict.signals if s.name == "auth.dkim_fail")
    assert "body hash" in fail.detail.lower()
    assert fail.kind is SignalKind.SENDER_RISK
    assert "dmarc=fail" in our_header(seen) and "p=reject" in our_header(seen)


def test_several_signatures_each_get_a_result(dns: LoopbackDNS, tmp_path: Path) -> None:
    key_news, _ = rsa_key("news")
    key_list, _ = rsa_key("list")
    once = sign(message_bytes("News <news@news.test>"), "news.test", "sel", key_news)
    twice = sign(once, "lists.test", "arc", key_list)
    _, seen = analyze(analyzer_for(dns, tmp_path), twice, mail_from="bounce@esp.test")
    summary = seen.summary
    assert summary is not None
    assert sorted((d.domain, d.result) for d in summary.dkim) == [("lists.test", "pass"), ("news.test", "pass")]


def test_a_signature_without_a_key_is_a_permerror_beside_one_that_passes(dns: LoopbackDNS, tmp_path: Path) -> None:
    """Keys are fetched before the message is read: the keyless signature is answered
    from DNS alone, the other is still verified over the message."""
    key_news, _ = rsa_key("news")
    once = sign(message_bytes("News <news@news.test>"), "news.test", "sel", key_news)
    twice = sign(once, "news.test", "gone", key_news)  # no gone._domainkey.news.test
    verdict, seen = analyze(analyzer_for(dns, tmp_path), twice, mail_from="bounce@esp.test")
    summary = seen.summary
    assert summary is not None
    got = {(d.selector, d.result): d.reason for d in summary.dkim}
    assert set(got) == {("gone", "permerror"), ("sel", "pass")}
    assert "missing public key: gone._domainkey.news.test" in got["gone", "permerror"]
    assert summary.dmarc.result == "pass"



def test_subdomain_policy_applies_to_subdomains(dns: LoopbackDNS, tmp_path: Path) -> None:
    verdict, _ = analyze(analyzer_for(dns, tmp_path), message_bytes("Alerts <alerts@mail.strict.test>"), mail_from="x@esp.test")
    assert "auth.dmarc_fail_reject" in names(verdict)  # sp=reject, though p=none
    verdict, _ = analyze(analyzer_for(dns, tmp_path), message_bytes("Alerts <alerts@strict.test>"), mail_from="x@esp.test")
    assert "auth.dmarc_fail_none" in names(verdict)


def test_organizational_domain_fallback(dns: LoopbackDNS, tmp_path: Path) -> None:
    verdict, seen = analyze(analyzer_for(dns, tmp_path), message_bytes("Shop <shop@a.b.example.co.uk>"), mail_from="x@esp.test")
    assert "auth.dmarc_fail_quarantine" in names(verdict)
    summary = seen.summary
    assert summary is not None and summary.dmarc.policy is not None
    assert summary.dmarc.policy.domain == "example.co.uk"
    verdict, _ = analyze(analyzer_for(dns, tmp_path), message_bytes("Shop <shop@a.b.example.co.uk>"), mail_from="x@a.b.example.co.uk")
    assert "auth.dmarc_pass" in names(verdict)


def test_no_dmarc_and_nothing_aligned_is_unauthenticated_sender_risk(dns: LoopbackDNS, tmp_path: Path) -> None:
    verdict, _ = analyze(analyzer_for(dns, tmp_path), message_bytes("Boss <boss@nodmarc.test>"), mail_from="x@esp.test")
    signal = next(s for s in verdict.signals if s.name == "auth.unauthenticated")
    assert signal.kind is SignalKind.SENDER_RISK and signal.score == 2.0


def test_dns_outage_is_unknown_never_a_dmarc_failure(tmp_path: Path) -> None:
    key, _ = rsa_key("news")
    signed = sign(message_bytes("News <news@news.test>"), "news.test", "sel", key)
    with LoopbackDNS(mode="servfail") as broken:
        verdict, seen = analyze(analyzer_for(broken, tmp_path), signed, mail_from="bounce@esp.test")
    got = {s.name: s for s in verdict.signals}
    assert not any(name.startswith("auth.dmarc_fail") for name in got)
    assert "auth.unauthenticated" not in got
    assert got["auth.dkim_temperror"].kind is SignalKind.ERROR
    assert got["auth.dmarc_temperror"].kind is SignalKind.ERROR
    assert "dmarc=temperror" in our_header(seen)


# -- ARC ----------------------------------------------------------------------------------


def test_mailing_list_with_trusted_arc_mitigates_dmarc_fail(dns: LoopbackDNS, tmp_path: Path) -> None:
    key_news, _ = rsa_key("news")
    key_list, _ = rsa_key("list")
    original = sign(message_bytes("News <news@news.test>", to="members@lists.test"), "news.test", "sel", key_news)
    # the list verified it (dmarc=pass), then changed subject and footer, breaking DKIM
    received = b"Authentication-Results: lists.test; dkim=pass header.d=news.test; spf=pass smtp.mailfrom=news.test; dmarc=pass header.from=news.test\r\n" + original
    changed = received.replace(b"Subject: Quarterly report", b"Subject: [members] Quarterly report").replace(
        b"Numbers attached.\r\n", b"Numbers attached.\r\n-- \r\nmembers mailing list\r\n")
    sealed = arc_seal(changed, "lists.test", "arc", key_list, "lists.test")

    trusted = analyzer_for(dns, tmp_path, trusted_arc_sealers=["lists.test"])
    verdict, seen = analyze(trusted, sealed, ip=LIST_IP, mail_from="members-bounces@lists.test", helo="lists.test")
    got = names(verdict)
    assert "auth.dmarc_mitigated" in got and got["auth.dmarc_mitigated"] == 0
    assert "auth.arc_pass" in got
    assert not any(n.startswith("auth.dmarc_fail") for n in got)
    assert "arc=pass" in our_header(seen)

    untrusted = analyzer_for(dns, tmp_path)
    verdict, _ = analyze(untrusted, sealed, ip=LIST_IP, mail_from="members-bounces@lists.test", helo="lists.test")
    assert "auth.dmarc_fail_reject" in names(verdict)


# -- Authentication-Results ---------------------------------------------------------------


def test_forged_results_claiming_our_id_are_removed_and_scored(dns: LoopbackDNS, tmp_path: Path) -> None:
    forged = message_bytes("Boss <boss@nodmarc.test>", extra=(
        "Authentication-Results: mx.example.test; dkim=pass header.d=nodmarc.test; dmarc=pass header.from=nodmarc.test\r\n"
        "Authentication-Results: other.example.net; spf=pass smtp.mailfrom=x@nodmarc.test\r\n"
        "Authentication-Results: MX.EXAMPLE.TEST; this does not parse ;;\r\n"))
    verdict, seen = analyze(analyzer_for(dns, tmp_path), forged, mail_from="x@esp.test")
    got = names(verdict)
    assert got["auth.forged_results"] == 3.0
    removed = [e for e in seen.edits if isinstance(e, ChangeHeader)]
    assert removed == [ChangeHeader("Authentication-Results", 3, ""), ChangeHeader("Authentication-Results", 1, "")]
    assert "auth.unauthenticated" in got  # the forged pass was not believed


def test_upstream_results_are_trusted_only_from_trusted_relays(dns: LoopbackDNS, tmp_path: Path) -> None:
    upstream = message_bytes("Boss <boss@nodmarc.test>", extra=(
        "Authentication-Results: border.example.test; spf=pass smtp.mailfrom=boss@nodmarc.test; dkim=pass header.d=nodmarc.test; dmarc=pass header.from=nodmarc.test\r\n"))
    config = {"trusted_authserv_ids": ["border.example.test"]}
    relay = "10.20.0.5"
    analyzer = build_analyzer(parse(loopback_config(
        dns.port, tmp_path, network={"trusted_networks": ["10.20.0.0/16"]},
        checks={"auth": {"authserv_id": "mx.example.test", **config}, "content": {"enabled": False}, "ip_reputation": {"enabled": False}},
    ), tmp_path / "x.toml"))
    queries_before = dns.count()
    verdict, seen = analyze(analyzer, upstream, ip=relay, mail_from="boss@nodmarc.test")
    summary = seen.summary
    assert summary is not None and summary.source == "upstream border.example.test"
    assert "auth.dmarc_pass" in names(verdict)
    assert dns.count() == queries_before  # nothing verified again
    assert not any(isinstance(e, AddHeader) and e.name == "Authentication-Results" for e in seen.edits)

    verdict, seen = analyze(analyzer, upstream, ip=OTHER_IP, mail_from="boss@nodmarc.test")
    assert "auth.forged_results" in names(verdict)
    assert "auth.dmarc_pass" not in names(verdict)
