"""Impersonation tells, each with the near miss that must not fire. Authentication comes
from a real DNS server on loopback, because most tells count only for unauthenticated mail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from spoofguard.assembly import build_analyzer
from spoofguard.config import parse
from tests.support.analysis import IP, analyze, message_bytes, names
from tests.support.dkim_keys import rsa_key, sign
from tests.support.dns_server import LoopbackDNS
from tests.support.milter_process import loopback_config


@pytest.fixture(scope="module")
def dns() -> Iterator[LoopbackDNS]:
    _, txt = rsa_key("news")
    with LoopbackDNS() as server:
        server.add_txt("example.com", f"v=spf1 ip4:{IP} -all")
        server.add_txt("sel._domainkey.example.com", txt)
        server.add_txt("_dmarc.example.com", "v=DMARC1; p=reject")
        server.add_txt("_dmarc.example.test", "v=DMARC1; p=none")
        server.add_txt("bulk.test", f"v=spf1 ip4:{IP} -all")
        yield server


@pytest.fixture
def analyzer(dns: LoopbackDNS, tmp_path: Path):  # type: ignore[no-untyped-def]
    return build_analyzer(parse(loopback_config(dns.port, tmp_path, checks={
        "auth": {"authserv_id": "mx.example.test"},
        "impersonation": {"own_domains": ["mycorp.test"]},
        "content": {"enabled": False},
        "ip_reputation": {"enabled": False},
        "domain_age": {"enabled": False},
    }), tmp_path / "spoofguard.toml"))


def newsletter(**kw: str) -> bytes:
    key, _ = rsa_key("news")
    return sign(message_bytes(**kw), "example.com", "sel", key)


def fired(verdict) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return {k: v for k, v in names(verdict).items() if k.startswith("impersonation.")}


def test_from_equal_to_recipient_without_dmarc_pass(analyzer) -> None:  # type: ignore[no-untyped-def]
    verdict, _ = analyze(analyzer, message_bytes("alice@example.test", to="alice@example.test", subject="I have access to your device"),
                         mail_from="x@bulk.test", rcpts=("alice@example.test",))
    # the envelope domain passes SPF, so only the From trick fires
    assert fired(verdict) == {"impersonation.from_is_recipient": 3.0}
    detail = next(s.detail for s in verdict.signals if s.name == "impersonation.from_is_recipient")
    assert "recipient's own address" in detail


def test_recipient_domain_counts_too_but_an_authenticated_sender_does_not(analyzer) -> None:  # type: ignore[no-untyped-def]
    verdict, _ = analyze(analyzer, message_bytes("it-support@example.test"), mail_from="it-support@example.test")
    assert "impersonation.from_is_recipient" in fired(verdict)
    verdict, _ = analyze(analyzer, newsletter(from_="Example News <newsletter@example.com>", to="news@example.com"),
                         mail_from="bounce@bulk.test", rcpts=("news@example.com",))
    assert fired(verdict) == {}


def test_same_brand_under_another_suffix_counts_only_unauthenticated(analyzer) -> None:  # type: ignore[no-untyped-def]
    verdict, _ = analyze(analyzer, message_bytes("IT <it@mycorp.com>"), mail_from="x@other.test")
    assert "impersonation.lookalike_domain" in fired(verdict)
    verdict, _ = analyze(analyzer, newsletter(from_="Example <newsletter@example.com>"), mail_from="bounce@bulk.test")
    assert "impersonation.lookalike_domain" not in fired(verdict)


def test_legitimate_newsletter_with_a_plain_display_name_fires_nothing(analyzer) -> None:  # type: ignore[no-untyped-def]
    verdict, _ = analyze(analyzer, newsletter(from_="Example News <newsletter@example.com>"), mail_from="bounce@bulk.test")
    assert "auth.dmarc_pass" in names(verdict)
    assert fired(verdict) == {}


def test_display_name_showing_another_address(analyzer) -> None:  # type: ignore[no-untyped-def]
    verdict, _ = analyze(analyzer, message_bytes('"security@paypal.com" <alerts@mailer.bulk.test>'), mail_from="x@bulk.test")
    assert fired(verdict)["impersonation.display_name_address"] == 2.0
    detail = next(s.detail for s in verdict.signals if s.name == "impersonation.display_name_address")
    assert "security@paypal.com" in detail and "alerts@mailer.bulk.test" in detail


def test_display_name_with_a_protected_domain_fires_even_when_authenticated(analyzer) -> None:  # type: ignore[no-untyped-def]
    verdict, _ = analyze(analyzer, newsletter(from_='"PayPal.com Support" <newsletter@example.com>'), mail_from="bounce@bulk.test")
    assert "auth.dmarc_pass" in names(verdict)
    assert "impersonation.display_name_address" in fired(verdict)


def test_lookalike_domain_fires_and_the_real_one_does_not(analyzer) -> None:  # type: ignore[no-untyped-def]
    verdict, _ = analyze(analyzer, message_bytes("PayPal <service@paypa1.com>"), mail_from="service@paypa1.com")
    assert fired(verdict)["impersonation.lookalike_domain"] == 3.5
    detail = next(s.detail for s in verdict.signals if s.name == "impersonation.lookalike_domain")
    assert "paypal.com" in detail
    verdict, _ = analyze(analyzer, message_bytes("PayPal <service@paypal.com>"), mail_from="service@paypal.com")
    assert "impersonation.lookalike_domain" not in fired(verdict)


def test_lookalike_of_own_domain_with_cyrillic_letters(analyzer) -> None:  # type: ignore[no-untyped-def]
    verdict, _ = analyze(analyzer, message_bytes("IT <it@myc\u043erp.test>"), mail_from="x@bulk.test")
    assert "impersonation.lookalike_domain" in fired(verdict)


def test_envelope_mismatch_counts_only_for_a_domain_worth_impersonating(analyzer) -> None:  # type: ignore[no-untyped-def]
    # Mail "from" your own domain (or a protected brand), sent with someone else's envelope.
    verdict, _ = analyze(analyzer, message_bytes("IT <it@mycorp.test>"), mail_from="x@other.test")
    assert "impersonation.envelope_mismatch" in fired(verdict)
    verdict, _ = analyze(analyzer, message_bytes("PayPal <service@paypal.com>"), mail_from="x@other.test")
    assert "impersonation.envelope_mismatch" in fired(verdict)
    # An ordinary domain with a bounce domain elsewhere: what lists and mail services do.
    verdict, _ = analyze(analyzer, message_bytes("Boss <boss@unknown-corp.test>"), mail_from="bounces@esp.test")
    assert "impersonation.envelope_mismatch" not in fired(verdict)
    verdict, _ = analyze(analyzer, message_bytes("IT <it@mycorp.test>"), mail_from="x@bulk.test")  # SPF pass for bulk.test
    assert "impersonation.envelope_mismatch" not in fired(verdict)


def test_list_mail_rewrites_reply_to_and_envelope_without_counting(analyzer) -> None:  # type: ignore[no-untyped-def]
    listed = "List-Id: <users.lists.other.test>\r\nReply-To: author@gmail.com\r\n"
    verdict, _ = analyze(analyzer, message_bytes("Ann via users <users@lists.other.test>", extra=listed),
                         mail_from="users-bounces@lists.other.test")
    assert fired(verdict) == {}


def test_reply_to_freemail_and_other_domains(analyzer) -> None:  # type: ignore[no-untyped-def]
    verdict, _ = analyze(analyzer, message_bytes("Boss <boss@unknown-corp.test>", extra="Reply-To: boss.private@gmail.com\r\n"), mail_from="boss@unknown-corp.test")
    assert fired(verdict)["impersonation.reply_to_freemail"] == 2.0
    verdict, _ = analyze(analyzer, message_bytes("Boss <boss@unknown-corp.test>", extra="Reply-To: help@other-corp.test\r\n"), mail_from="boss@unknown-corp.test")
    assert fired(verdict)["impersonation.reply_to_divergence"] == 1.0
    verdict, _ = analyze(analyzer, message_bytes("Boss <boss@unknown-corp.test>", extra="Reply-To: help@support.unknown-corp.test\r\n"), mail_from="boss@unknown-corp.test")
    assert "impersonation.reply_to_divergence" not in fired(verdict)
