"""Ten thousand hostile messages through ``analyze``, and two hundred through the live
milter: no exception escapes, every message gets a verdict, memory stays bounded."""

from __future__ import annotations

import dataclasses
import resource
import time
from collections import Counter

from spoofguard import config
from spoofguard.assembly import build_analyzer
from spoofguard.lookups import LookupSession
from spoofguard.message import Envelope, Message
from spoofguard.verdict import Verdict
from tests.support.bench_scripts import bench_module
from tests.support.dns_server import LoopbackDNS
from tests.support.hostile import hostile_messages
from tests.support.milter_process import MilterProcess

MESSAGE_SIZE_LIMIT = 10_240_000  # Postfix's default message_size_limit


def test_ten_thousand_hostile_messages_each_get_a_verdict_and_no_check_crashes() -> None:
    analyzer = build_analyzer(config.load(), offline=True)
    kinds: Counter[str] = Counter()
    crashed: list[str] = []
    started = time.monotonic()
    for kind, data in hostile_messages(10_000):
        message = Message.from_bytes(data, Envelope(client_ip="203.0.113.9", mail_from="x@example.org"))
        verdict = analyzer.analyze(message, LookupSession(None, 5.0, 2.0))
        assert isinstance(verdict, Verdict)
        crashed += [f"{kind}: {s.detail}" for s in verdict.signals if s.name.endswith(".error")]
        kinds[kind] += 1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert crashed == []  # checks degrade on hostile input; none raised
    assert sum(kinds.values()) == 10_000 and len(kinds) == 9
    assert peak_mb < 1024, peak_mb
    print(f"10000 hostile messages ({dict(kinds)}) in {time.monotonic() - started:.0f} s, peak RSS {peak_mb:.0f} MB")


def test_two_hundred_hostile_messages_through_the_live_milter() -> None:
    load = bench_module("milter_load")

    template = load.generate(1, 3)[0]
    with LoopbackDNS() as dns, MilterProcess({
        "dns": {"nameservers": ["127.0.0.1"], "port": dns.port, "timeout": 1.0},
        "analysis": {"budget": 3.0, "lookup_timeout": 1.0},
    }) as milter:
        target = load.parse_target(f"inet:{milter.port}@127.0.0.1")
        outcomes = []
        started = time.monotonic()
        for number, (_, data) in enumerate(hostile_messages(200, seed=7)):
            head, _, body = data.partition(b"\r\n\r\n")
            # as Postfix passes them: a header value within one libmilter packet (64 KB
            # unless a larger size is negotiated) and the whole message within Postfix's
            # default message_size_limit (10,240,000 bytes), which refuses larger ones
            headers = tuple((name, value[:60_000]) for name, _, value in (line.decode("latin-1").partition(":")
                            for line in head.split(b"\r\n")) if name.strip() and "\x00" not in name)
            mail = dataclasses.replace(template, headers=headers or template.headers, body=body[:MESSAGE_SIZE_LIMIT])
            outcomes.append(load.run_session(target, mail, f"FUZZ{number}", 60))
        elapsed = time.monotonic() - started
        alive = milter.proc is not None and milter.proc.poll() is None
        peak_mb = bench_module("procstats").peak_rss_mb([milter.proc.pid]) if alive and milter.proc is not None else 0.0
        logged = "\n".join(milter.verdict_lines())
    errors = [o.error for o in outcomes if o.error]
    assert errors == [] and alive
    assert all(o.verdict in ("accept", "continue", "tempfail") for o in outcomes)
    assert all(f"queue_id=FUZZ{number} " in logged for number in range(200))  # each one judged and logged
    assert peak_mb < 1024, peak_mb
    print(f"200 hostile messages through the live milter in {elapsed:.0f} s, milter peak RSS {peak_mb:.0f} MB")


