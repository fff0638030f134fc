"""A DNS and RDAP outage in the middle of a run, through Postfix: every message still
gets a verdict within the per-message budget, marked degraded in its report, and the
configured on_error outcome (accept, or tempfail when the missing answers could have
changed the outcome) applies."""

from __future__ import annotations

import email
import email.policy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.dns_server import LoopbackDNS
from tests.support.messages import BENIGN, THREAT, make_message
from tests.support.milter_process import MilterProcess
from tests.support.postfix import milter_sections, requires_postfix, send_from
from tests.support.postfix_harness import PostfixInstance
from tests.support.rdap_server import LoopbackRDAP

pytestmark = [requires_postfix, pytest.mark.postfix]

CLIENT = "198.51.100.44"
BUDGET = 3.0  # analysis.budget in milter_sections


@pytest.fixture(scope="module")
def rdap() -> Iterator[LoopbackRDAP]:
    with LoopbackRDAP() as server:
        yield server


@pytest.fixture(scope="module")
def milter(dns: LoopbackDNS, rdap: LoopbackRDAP, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilterProcess]:
    bootstrap = Path(tmp_path_factory.mktemp("outage")) / "dns.json"
    bootstrap.write_text(json.dumps(rdap.bootstrap_for(["test"])))
    with MilterProcess(milter_sections(dns, checks={"domain_age": {"rdap_bootstrap": str(bootstrap), "rdap_timeout": 1.0}})) as process:
        yield process


def send(postfix: PostfixInstance, number: int, body: str = BENIGN) -> tuple[bool, int, float]:
    domain = f"fresh{number}.test"
    message = make_message(body, subject=f"outage-{number}", sender=f"News <news@{domain}>", to=f"out{number}@example.test")
    started = time.monotonic()
    result = send_from(postfix, CLIENT, message, rcpt=f"out{number}@example.test", mail_from=f"news@{domain}")
    return result.accepted, result.code, time.monotonic() - started


def report_of(postfix: PostfixInstance, number: int) -> str:
    [raw] = postfix.wait_for_mail(f"out{number}", 1)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return " ".join(str(parsed["X-Spoofguard-Report"] or "").split())


def test_dns_then_rdap_outage_gives_verdicts_in_budget_marked_degraded(
        postfix: PostfixInstance, dns: LoopbackDNS, rdap: LoopbackRDAP, milter: MilterProcess) -> None:
    rdap.add_domain("fresh1.test", datetime.now(UTC) - timedelta(days=900))
    accepted, _, _ = send(postfix, 1)
    assert accepted and "=error" not in report_of(postfix, 1)

    dns.mode = "drop"  # the resolver stops answering
    try:
        timings = []
        for number in (2, 3):
            accepted, _, seconds = send(postfix, number)
            assert accepted  # on_error = accept: delivered on the evidence there is
            timings.append(seconds)
            report = report_of(postfix, number)
            assert "=error" in report and "timeout" in report
    finally:
        dns.mode = "answer"
    assert max(timings) < BUDGET + 2.0, timings

    for number in (4, 5):  # DNS is back; the registry now fails
        rdap.respond(f"fresh{number}.test", 500, "internal error")
        accepted, _, seconds = send(postfix, number)
        assert accepted and seconds < BUDGET + 2.0
        assert "domain_age.unknown=error" in report_of(postfix, number)
        timings.append(seconds)
    print(f"DNS dropped, then RDAP 500: whole SMTP session per message {[round(t, 2) for t in timings]} s (budget {BUDGET} s)")


def test_tempfail_policy_defers_a_threat_whose_missing_answers_could_matter(
        postfix: PostfixInstance, dns: LoopbackDNS, milter: MilterProcess) -> None:
    sections = milter_sections(dns, policy={"on_error": "tempfail"})
    sections["checks"]["domain_age"] = {"rdap_bootstrap": str(milter.dir / "rdap-none.json"), "whois": False}
    milter.reload(sections)
    dns.mode = "drop"
    try:
        accepted, code, seconds = send(postfix, 6, body=THREAT)
    finally:
        dns.mode = "answer"
        milter.reload(milter_sections(dns))
    assert not accepted and code == 451 and seconds < BUDGET + 2.0
    assert "action=tempfail" in milter.log()
