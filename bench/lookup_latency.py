"""Per-message time with a cold and a warm lookup cache, against loopback DNS and RDAP.

Every message runs the full default pipeline (authentication, impersonation, content, IP
reputation with two DNS lists and the origin AS, domain age over RDAP, first contact)
the way the milter runs it: lookups start at connect, MAIL FROM and end of headers, and
the clock runs from connect to the verdict and what the milter then learns. *Cold*: each message comes from a new IP with a new domain, so
every DNS and RDAP answer must be fetched. *Warm*: the same messages again, answered from
the cache. With ``--delay`` every DNS and RDAP answer is held back that long, as a
resolver a few milliseconds away would.

    .venv/bin/python bench/lookup_latency.py --messages 200 --delay 0.02
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "milter")]

from tests.support.dns_server import LoopbackDNS  # noqa: E402
from tests.support.messages import THREAT, make_message  # noqa: E402
from tests.support.milter_process import loopback_config  # noqa: E402
from tests.support.rdap_server import LoopbackRDAP  # noqa: E402

from spoofguard import config  # noqa: E402
from spoofguard.assembly import build_analyzer  # noqa: E402
from spoofguard.checks import Stage  # noqa: E402
from spoofguard.lookups import LookupSession  # noqa: E402
from spoofguard.message import Envelope, Message  # noqa: E402


def client_ip(i: int) -> str:
    return f"198.18.{i // 250}.{i % 250 + 1}"


def populate(dns: LoopbackDNS, rdap: LoopbackRDAP, count: int) -> None:
    now = datetime.now(UTC)
    for zone in ("bl.test", "bl2.test"):
        dns.add(f"2.0.0.127.{zone}", "A", "127.0.0.2")
    for i in range(count):
        ip = client_ip(i)
        reverse = ".".join(reversed(ip.split(".")))
        domain = f"sender{i}.test"
        if i % 4 == 0:
            dns.add(f"{reverse}.bl.test", "A", "127.0.0.2")
        dns.add_ptr(ip, f"mail.{domain}")
        dns.add(f"mail.{domain}", "A", ip)
        dns.add_txt(domain, f"v=spf1 ip4:{ip} -all")
        dns.add_txt(f"_dmarc.{domain}", "v=DMARC1; p=reject")
        dns.add_txt(f"{reverse}.origin.asn.test", "64500 | 198.18.0.0/15 | ZZ | test | 2019-01-01")
        rdap.add_domain(domain, now - timedelta(days=3 if i % 4 == 0 else 3000))


def run(messages: list[tuple[bytes, Envelope]], analyzer, pool: ThreadPoolExecutor) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for data, envelope in messages:
        started = time.perf_counter()
        session = LookupSession(pool, budget=5.0, default_timeout=2.0)
        message = Message(envelope=Envelope(client_ip=envelope.client_ip, helo=envelope.helo))
        analyzer.prefetch(Stage.CONNECT, message, session)
        message = Message.from_bytes(data, envelope)
        analyzer.prefetch(Stage.MAIL, message, session)
        analyzer.prefetch(Stage.HEADERS, message, session)
        verdict = analyzer.analyze(message, session)
        analyzer.learn(message, verdict)  # as the milter does once the MTA took the message
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"{statistics.median(ordered):7.2f} | {p95:7.2f} | {max(ordered):7.2f}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds added to every DNS and RDAP answer")
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "memory"))
    parser.add_argument("--without", action="append", default=[], metavar="CHECK",
                        help="leave a check out (e.g. sender), to see what it costs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LoopbackDNS(delay=args.delay) as dns, LoopbackRDAP(delay=args.delay) as rdap:
        directory = Path(tmp)
        populate(dns, rdap, args.messages)
        bootstrap = directory / "dns.json"
        bootstrap.write_text(json.dumps(rdap.bootstrap_for(["test"])))
        base = config.load(ROOT / "config" / "spoofguard.toml")
        sections = loopback_config(dns.port, directory, checks={
            "auth": {"authserv_id": "mx.bench.test"},
            "ip_reputation": {"asn_zone": "origin.asn.test", "asn6_zone": "origin6.asn.test",
                              "dnsbl": [{"name": "bl", "zone": "bl.test", "codes": {"127.0.0.2": "listed"}, "weight": 4.0},
                                        {"name": "bl2", "zone": "bl2.test", "codes": {"127.0.0.2": "listed"}, "weight": 2.0}]},
            "domain_age": {"rdap_bootstrap": str(bootstrap)},
            **{name: {"enabled": False} for name in args.without},
        }, cache={"backend": args.backend, "path": str(directory / "cache.sqlite")})
        settings = config.parse(sections, directory / "bench.toml")
        assert base.checks["domain_age"].enabled and settings.checks["domain_age"].enabled
        analyzer = build_analyzer(settings)
        time.sleep(0.5 + 4 * args.delay)  # let the DNS list probes finish
        messages = []
        for i in range(args.messages):
            domain = f"sender{i}.test"
            sent = make_message(THREAT, subject=f"Notice {i}", sender=f"Info <info@{domain}>", to="voter@example.test")
            envelope = Envelope(client_ip=client_ip(i), helo=f"mail.{domain}", mail_from=f"info@{domain}", rcpts=["voter@example.test"])
            messages.append((sent.as_bytes(), envelope))
        with ThreadPoolExecutor(32) as pool:
            cold = run(messages, analyzer, pool)
            queries_cold, rdap_cold = dns.count(), sum(rdap.requests.values())
            warm = run(messages, analyzer, pool)
            queries_warm, rdap_warm = dns.count() - queries_cold, sum(rdap.requests.values()) - rdap_cold
    print(f"messages={args.messages} delay={args.delay * 1000:.0f}ms backend={args.backend}"
          + (f" without={','.join(args.without)}" if args.without else ""))
    print("| cache | median ms | p95 ms | max ms | DNS queries | RDAP requests |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| cold | {summary(cold)} | {queries_cold} | {rdap_cold} |")
    print(f"| warm | {summary(warm)} | {queries_warm} | {rdap_warm} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
