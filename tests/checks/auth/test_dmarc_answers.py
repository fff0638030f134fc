"""DMARC policy discovery fed DNS answers directly: a timeout stays unknown, the
organizational domain's record applies to a subdomain, and two records are no record."""

from __future__ import annotations

from spoofguard.checks.auth.dmarc import evaluate, fetch_policy
from spoofguard.checks.auth.spf import SpfResult
from tests.support.answers import StaticResolver


def test_a_dns_timeout_is_temperror_never_a_dmarc_failure() -> None:
    resolver = StaticResolver(failing=("_dmarc.bank.test",))
    lookup = fetch_policy(resolver, "bank.test")
    assert lookup.status == "temperror"
    assert evaluate("bank.test", lookup, None, []).result == "temperror"


def test_the_organizational_domain_policy_covers_a_subdomain() -> None:
    resolver = StaticResolver({("_dmarc.bank.co.uk", "TXT"): ["v=DMARC1; p=reject; sp=quarantine"]})
    lookup = fetch_policy(resolver, "alerts.bank.co.uk")
    assert lookup.status == "found" and lookup.policy is not None
    assert (lookup.policy.domain, lookup.policy.sp) == ("bank.co.uk", "quarantine")
    assert resolver.asked == [("_dmarc.alerts.bank.co.uk", "TXT"), ("_dmarc.bank.co.uk", "TXT")]


def test_an_aligned_spf_pass_passes_and_nothing_aligned_fails() -> None:
    resolver = StaticResolver({("_dmarc.bank.test", "TXT"): ["v=DMARC1; p=reject"]})
    lookup = fetch_policy(resolver, "bank.test")
    aligned = SpfResult("pass", "mail.bank.test", "mailfrom", "bounce@mail.bank.test")
    stranger = SpfResult("pass", "other.test", "mailfrom", "x@other.test")
    assert evaluate("bank.test", lookup, aligned, []).result == "pass"
    assert evaluate("bank.test", lookup, stranger, []).result == "fail"


def test_two_dmarc_records_count_as_none() -> None:
    resolver = StaticResolver({("_dmarc.bank.test", "TXT"): ["v=DMARC1; p=reject", "v=DMARC1; p=none"]})
    assert fetch_policy(resolver, "bank.test").status == "none"
