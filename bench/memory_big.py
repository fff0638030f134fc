"""Peak memory with 32 concurrent 10 MB messages: body bytes past the scan cap are never
held, so the milter's peak RSS stays bounded whatever the message size.

Starts spoofguard with the benchmark's warm-cache setup (loopback DNS and RDAP), sends
``--concurrency`` sessions at once, each a generated message padded to ``--size-mb``, and
reports the server's peak RSS (VmHWM) before and after.

    .venv/bin/python bench/memory_big.py --concurrency 32 --size-mb 10
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

import milter_load  # noqa: E402
import run_bench  # noqa: E402
from procstats import peak_rss_mb  # noqa: E402
from tests.support.dns_server import LoopbackDNS  # noqa: E402
from tests.support.milter_process import free_port  # noqa: E402
from tests.support.rdap_server import LoopbackRDAP  # noqa: E402


def padded(mail: milter_load.Mail, size: int) -> milter_load.Mail:
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n"
    filler = line * (max(0, size - len(mail.body)) // len(line) + 1)
    return dataclasses.replace(mail, body=mail.body + filler[: max(0, size - len(mail.body))])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--size-mb", type=float, default=10.0)
    args = parser.parse_args()
    size = int(args.size_mb * 1024 * 1024)
    ips, domains = run_bench.generator_pools()
    mails = [padded(m, size) for m in milter_load.generate(args.concurrency, run_bench.GENERATOR_SEED)]
    with LoopbackDNS() as dns, LoopbackRDAP() as rdap, tempfile.TemporaryDirectory() as tmp:
        run_bench.populate_dns(dns, ips, domains, 300)
        run_bench.populate_rdap(rdap, domains)
        port = free_port()
        config = run_bench.spoofguard_config(Path(tmp), port, dns, rdap)
        target = run_bench.ProcessTarget([str(run_bench.SPOOFGUARD), "serve", "--config", str(config)], port, Path(tmp) / "milter.log")
        target.start()
        try:
            address = milter_load.parse_target(f"inet:{port}@127.0.0.1")
            milter_load.run_session(address, milter_load.generate(1, 7)[0], "WARM0", 60)
            idle = peak_rss_mb(target.pids())
            started = time.monotonic()
            with ThreadPoolExecutor(args.concurrency) as pool:
                outcomes = list(pool.map(lambda item: milter_load.run_session(address, item[1], f"BIG{item[0]}", 300),
                                         enumerate(mails)))
            elapsed = time.monotonic() - started
            peak = peak_rss_mb(target.pids())
        finally:
            target.stop()
    errors = [o.error for o in outcomes if o.error]
    verdicts = sorted({o.verdict or "none" for o in outcomes if not o.error})
    print(f"{args.concurrency} concurrent messages of {args.size_mb:g} MB: peak RSS {peak:.0f} MB "
          f"(after one small message: {idle:.0f} MB), {elapsed:.1f} s, errors {errors or 'none'}, verdicts {verdicts}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
