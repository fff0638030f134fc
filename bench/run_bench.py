"""Milter throughput and latency: spoofguard against a do-nothing milter and rspamd.

``make bench`` runs this. Each target runs alone, pinned to CPU 0 (``taskset -c 0``),
with the load generator (bench/milter_load.py, speaking the milter protocol as Postfix
does) pinned to CPU 1, so the figures are "what one core of this machine does". Targets
alternate A B C D per round, so a slow spell of the machine hits every target alike:

A. spoofguard, full default pipeline, warm cache: every lookup it makes (PTR, SPF,
   DMARC, DKIM keys, the Spamhaus list, the origin AS, RDAP) is answered by loopback DNS
   and RDAP servers started here, and one unmeasured pass fills the cache first.
B. bench/noop_milter.py in eom-only mode: the ceiling for a pymilter milter.
C. rspamd 3.x as a self-scanning milter proxy, network modules off (bench/rspamd/).
D. spoofguard, cold: fresh state dir and cache, every DNS answer 20 ms late and served
   with TTL 0 so the cache can never reuse it (the generator's pools are 20 client IPs
   and 14 domains: with normal TTLs "cold" would be warm after a second).
E. spoofguard, warm, on every core: ``milter.workers`` 1 and then 2, nothing pinned
   (server and generator share the machine's cores), at concurrency 8: what the second
   worker adds.

Per run: messages/s and EOM latency from the generator; CPU time (utime+stime of every
thread of the server and its child processes) and peak RSS (VmHWM) from /proc. Writes
bench/results/latest.md.

    .venv/bin/python bench/run_bench.py            # 3 rounds, 10 s runs, ~10 minutes
    .venv/bin/python bench/run_bench.py --quick    # 1 round, 5 s runs
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(ROOT / "milter"), str(BENCH), str(BENCH / "rspamd")]

import milter_load  # noqa: E402
from procstats import cpu_seconds, peak_rss_mb, process_tree, resident_mb  # noqa: E402
from run import RspamdTarget, rspamd_version  # noqa: E402  (bench/rspamd/run.py)
from tests.support.dns_server import LoopbackDNS  # noqa: E402
from tests.support.milter_process import free_port, loopback_config, toml_text  # noqa: E402
from tests.support.processes import terminate  # noqa: E402
from tests.support.rdap_server import LoopbackRDAP  # noqa: E402

from spoofguard.domains import organizational_domain  # noqa: E402

SERVER_CPU = "0"
LOAD_CPU = "1"
CONCURRENCY = (1, 8, 32)
COLD_CONCURRENCY = 8
COLD_DELAY = 0.020
WARM_TTL = 86400
GENERATOR_SEED = 1
GENERATOR_COUNT = 240
SPOOFGUARD = ROOT / ".venv" / "bin" / "spoofguard"
RESULTS = BENCH / "results" / "latest.md"
TARGET_NAMES = {"warm": "spoofguard (warm)", "noop": "no-op milter (ceiling)", "rspamd": "rspamd",
                "cold": "spoofguard (cold, DNS +20 ms)"}
ALL_CPUS = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0)))
WORKER_LEVELS = (1, 2)  # milter.workers in the unpinned runs
WORKERS_CONCURRENCY = 8


@dataclass(frozen=True)
class Timing:
    """How long each generator run lasts; the warm-up part is left out of its figures."""

    rounds: int
    duration: float
    warmup: float
    prime: float  # the unmeasured pass after each start


@dataclass
class Run:
    """One generator run against one target, with the server's own cost."""

    target: str
    concurrency: int
    result: dict[str, Any]
    cpu_s: float
    rss_mb: float

    @property
    def cpu_ms_per_msg(self) -> float | None:
        """CPU over the whole run (warm-up included) divided by the messages it handled,
        estimated as the measured rate times the run's length: the generator counts only
        the messages after its warm-up, the CPU counters cannot be split that finely."""
        rate, elapsed = self.result.get("msgs_per_s"), self.result.get("elapsed_s")
        if not rate or not elapsed:
            return None
        return self.cpu_s * 1000 / (rate * elapsed)


@dataclass
class Results:
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    idle: dict[int, list[tuple[str, dict[str, float]]]] = field(default_factory=dict)  # workers -> processes

    def pick(self, target: str, concurrency: int) -> list[Run]:
        return [r for r in self.runs if r.target == target and r.concurrency == concurrency]


# -- targets ----------------------------------------------------------------------------


class Target(Protocol):
    port: int

    def start(self) -> Any: ...
    def stop(self) -> None: ...
    def pids(self) -> list[int]: ...


def pinned(cpu: str, command: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *command]


def wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {timeout} s; see {log}")


class ProcessTarget:
    """A milter started as one command, pinned to the server CPU (or ``cpus``), output to
    a log file."""

    def __init__(self, command: list[str], port: int, log: Path, cpus: str = SERVER_CPU) -> None:
        self.command, self.port, self.log, self.cpus = command, port, log, cpus
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ProcessTarget:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(pinned(self.cpus, self.command), stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        wait_listening(self.port, self.proc, self.log)
        return self

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc else []

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, 20)


# -- loopback DNS and RDAP for spoofguard -----------------------------------------------


def generator_pools() -> tuple[list[str], list[str]]:
    """The client IPs and sender domains bench/milter_load.py will use (same seed)."""
    mails = milter_load.generate(GENERATOR_COUNT, GENERATOR_SEED)
    ips = sorted({m.client_ip for m in mails})
    domains = sorted({m.mail_from.rsplit("@", 1)[1] for m in mails} | set(milter_load.SENDER_DOMAINS))
    return ips, domains


def reverse(ip: str) -> str:
    return ".".join(reversed(ip.split(".")))


def populate_dns(dns: LoopbackDNS, ips: list[str], domains: list[str], ttl: int) -> None:
    """Answers for what spoofguard asks about these clients and senders. Anything else
    (DKIM selectors, unlisted IPs) gets NXDOMAIN from the server, which is an answer."""
    dns.add("2.0.0.127.zen.spamhaus.org", "A", "127.0.0.2", ttl)  # RFC 5782 test point
    for index, ip in enumerate(ips):
        host = f"mx{index}.relay.example"
        dns.add_ptr(ip, host, ttl)
        dns.add(host, "A", ip, ttl)
        dns.add_txt(f"{reverse(ip)}.origin.asn.cymru.com", f"64500 | {ip.rsplit('.', 1)[0]}.0/24 | ZZ | bench | 2019-01-01", ttl)
        if index % 10 == 0:  # a couple of listed clients, as on any gateway
            dns.add(f"{reverse(ip)}.zen.spamhaus.org", "A", "127.0.0.4", ttl)
    for index, domain in enumerate(domains):
        dns.add_txt(domain, "v=spf1 ip4:198.51.100.0/24 ip4:203.0.113.0/24 -all", ttl)
        dns.add_txt(f"_dmarc.{domain}", f"v=DMARC1; p={('none', 'quarantine', 'reject')[index % 3]}", ttl)
        dns.add(f"mail.{domain}", "A", ips[index % len(ips)], ttl)


def populate_rdap(rdap: LoopbackRDAP, domains: list[str]) -> None:
    now = datetime.now(UTC)
    for index, domain in enumerate(sorted({organizational_domain(d) for d in domains})):
        rdap.add_domain(domain, now - timedelta(days=5 if index == 0 else 2000 + 97 * index))


def spoofguard_config(directory: Path, port: int, dns: LoopbackDNS, rdap: LoopbackRDAP, workers: int = 1) -> Path:
    """The packaged default config, with only the network endpoints, paths and the number
    of workers changed."""
    directory.mkdir(parents=True, exist_ok=True)
    with (ROOT / "config" / "spoofguard.toml").open("rb") as handle:
        data: dict[str, Any] = tomllib.load(handle)
    bootstrap = directory / "rdap-bench.json"
    bootstrap.write_text(json.dumps(rdap.bootstrap_for(["example"])))
    overrides = loopback_config(dns.port, directory, checks={"domain_age": {"rdap_bootstrap": str(bootstrap)}},
                                cache={"path": str(directory / "cache.sqlite")},
                                milter={"socket": f"inet:{port}@127.0.0.1", "workers": workers})
    for section, values in overrides.items():
        merge(data.setdefault(section, {}), values)
    path = directory / "spoofguard.toml"
    path.write_text(toml_text(data))
    return path


def merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value


# -- running the generator --------------------------------------------------------------


def generate_load(port: int, concurrency: int, duration: float, warmup: float,
                  cpus: str = LOAD_CPU) -> dict[str, Any]:
    command = pinned(cpus, [sys.executable, str(BENCH / "milter_load.py"), "--target",
                                f"inet:{port}@127.0.0.1", "--concurrency", str(concurrency),
                                "--duration", str(duration), "--warmup", str(warmup), "--json",
                                "--count", str(GENERATOR_COUNT), "--seed", str(GENERATOR_SEED)])
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"milter_load failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(name: str, target: Target, concurrency: int, timing: Timing, load_cpus: str = LOAD_CPU) -> Run:
    before = cpu_seconds(target.pids())
    result = generate_load(target.port, concurrency, timing.duration, timing.warmup, load_cpus)
    pids = target.pids()
    run = Run(name, concurrency, result, cpu_seconds(pids) - before, peak_rss_mb(pids))
    print(f"  {name:<7} c={concurrency:<3} {result['msgs_per_s']} msg/s, eom p50 {result['eom_p50_ms']} ms, "
          f"p99 {result['eom_p99_ms']} ms, {run.cpu_ms_per_msg or 0:.2f} CPU ms/msg, {run.rss_mb:.0f} MB, "
          f"errors {result['errors'] or 'none'}", flush=True)
    return run


def session(name: str, target: Target, levels: tuple[int, ...], timing: Timing, prime: bool,
            load_cpus: str = LOAD_CPU, before: Callable[[Target], object] | None = None) -> list[Run]:
    """Start the target, prime it (unmeasured), measure each concurrency, stop it."""
    target.start()
    try:
        if before is not None:
            generate_load(target.port, 1, 2.0, 0, load_cpus)
            before(target)
        if prime:
            generate_load(target.port, 8, timing.prime, 0, load_cpus)
        return [measure(name, target, c, timing, load_cpus) for c in levels]
    finally:
        target.stop()


# -- the benchmark ----------------------------------------------------------------------


@dataclass
class Bench:
    work: Path
    timing: Timing
    dns: LoopbackDNS
    rdap: LoopbackRDAP
    ips: list[str]
    domains: list[str]
    have_rspamd: bool

    def warm(self) -> Target:
        port = free_port()
        config = spoofguard_config(self.work / "warm", port, self.dns, self.rdap)
        return ProcessTarget([str(SPOOFGUARD), "serve", "--config", str(config)], port, self.work / "warm" / "milter.log")

    def workers_runs(self, results: Results) -> list[Run]:
        """The warm pipeline with 1 and then 2 workers, neither server nor generator pinned;
        each process's memory is read after one message, before the load."""
        runs: list[Run] = []
        for count in WORKER_LEVELS:
            port = free_port()
            directory = self.work / f"workers-{count}"
            config = spoofguard_config(directory, port, self.dns, self.rdap, workers=count)
            target = ProcessTarget([str(SPOOFGUARD), "serve", "--config", str(config)], port,
                                   directory / "milter.log", cpus=ALL_CPUS)
            runs += session(f"workers{count}", target, (WORKERS_CONCURRENCY,), self.timing, prime=True,
                            load_cpus=ALL_CPUS, before=functools.partial(record_idle, results, count))
        return runs

    def noop(self) -> Target:
        port = free_port()
        return ProcessTarget([sys.executable, str(BENCH / "noop_milter.py"), "--socket", f"inet:{port}@127.0.0.1",
                              "--mode", "eom-only"], port, self.work / "noop.log")

    def rspamd(self) -> Target:
        return RspamdTarget(self.work / "rspamd", free_port(), ["taskset", "-c", SERVER_CPU])

    def cold_runs(self, round_no: int) -> list[Run]:
        """A fresh state dir and DNS server per round: nothing cached, every answer late."""
        directory = self.work / f"cold-{round_no}"
        with LoopbackDNS(delay=COLD_DELAY) as dns:
            populate_dns(dns, self.ips, self.domains, ttl=0)
            port = free_port()
            config = spoofguard_config(directory, port, dns, self.rdap)
            target = ProcessTarget([str(SPOOFGUARD), "serve", "--config", str(config)], port, directory / "milter.log")
            cold_timing = Timing(1, self.timing.duration, 0.0, 0.0)
            runs = session("cold", target, (COLD_CONCURRENCY,), cold_timing, prime=False)
            print(f"  cold: {dns.count()} DNS queries answered", flush=True)
            return runs

    def run(self) -> Results:
        results = Results()
        plan: list[tuple[str, Callable[[], Target]]] = [("warm", self.warm), ("noop", self.noop)]
        if self.have_rspamd:
            plan.append(("rspamd", self.rspamd))
        else:
            results.notes.append("rspamd is not installed: its column is empty (`apt-get install rspamd`).")
        for round_no in range(1, self.timing.rounds + 1):
            print(f"round {round_no}/{self.timing.rounds}", flush=True)
            for name, make in plan:
                results.runs += session(name, make(), CONCURRENCY, self.timing, prime=True)
            results.runs += self.cold_runs(round_no)
            results.runs += self.workers_runs(results)
        return results


# -- report -----------------------------------------------------------------------------


def median_of(runs: list[Run], value: Callable[[Run], float | None]) -> float | None:
    values = [v for v in (value(r) for r in runs) if v is not None]
    return statistics.median(values) if values else None


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    return "–" if not a or not b else f"{a / b:.2f}×"


def machine_facts() -> list[str]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    return [
        f"- CPU: {model}, {os.cpu_count()} cores (server pinned to CPU {SERVER_CPU}, load generator to CPU {LOAD_CPU})",
        f"- kernel: {platform.release()}, Python {platform.python_version()}",
        f"- rspamd: {rspamd_version() or 'not installed'}",
    ]


def concurrency_table(results: Results, c: int) -> list[str]:
    lines = [f"### concurrency {c}", "",
             "| target | msgs/s | EOM p50 ms | EOM p99 ms | CPU ms/msg | peak RSS MB | errors |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for target in ("warm", "noop", "rspamd"):
        runs = results.pick(target, c)
        if not runs:
            continue
        errors = sum(sum(r.result["errors"].values()) for r in runs)
        lines.append(f"| {TARGET_NAMES[target]} | {median_cells(runs)} | {errors} |")
    rate = {t: median_of(results.pick(t, c), lambda r: r.result["msgs_per_s"]) for t in ("warm", "noop", "rspamd")}
    lines += ["", f"spoofguard / ceiling: {ratio(rate['warm'], rate['noop'])} msgs/s; "
                  f"spoofguard / rspamd: {ratio(rate['warm'], rate['rspamd'])} msgs/s", ""]
    return lines


def median_cells(runs: list[Run]) -> str:
    """msgs/s, EOM p50 and p99, CPU ms/msg and peak RSS: the medians over ``runs``."""
    return (f"{fmt(median_of(runs, lambda r: r.result['msgs_per_s']))} "
            f"| {fmt(median_of(runs, lambda r: r.result['eom_p50_ms']), 2)} "
            f"| {fmt(median_of(runs, lambda r: r.result['eom_p99_ms']), 2)} "
            f"| {fmt(median_of(runs, lambda r: r.cpu_ms_per_msg), 2)} "
            f"| {fmt(median_of(runs, lambda r: r.rss_mb), 0)}")


def verdict_line(label: str, met: bool | None, figures: str) -> str:
    state = "not measured" if met is None else ("met" if met else "NOT met")
    return f"- {label}: **{state}** ({figures})"


def targets_section(results: Results) -> list[str]:
    rate = {t: median_of(results.pick(t, 8), lambda r: r.result["msgs_per_s"]) for t in ("warm", "noop", "rspamd")}
    cold_p50 = median_of(results.pick("cold", COLD_CONCURRENCY), lambda r: r.result["eom_p50_ms"])
    warm, noop, rsp = rate["warm"], rate["noop"], rate["rspamd"]
    one, two = (median_of(results.pick(f"workers{n}", WORKERS_CONCURRENCY), lambda r: r.result["msgs_per_s"])
                for n in WORKER_LEVELS)
    warm1_p50 = median_of(results.pick("warm", 1), lambda r: r.result["eom_p50_ms"])
    return [
        "## Targets", "",
        verdict_line("warm c=8 spoofguard ≥ 2× rspamd", None if not (warm and rsp) else warm >= 2 * rsp,
                     f"{fmt(warm)} vs {fmt(rsp)} msgs/s = {ratio(warm, rsp)}"),
        verdict_line("warm c=8 spoofguard ≥ 35% of ceiling", None if not (warm and noop) else warm >= 0.35 * noop,
                     f"{fmt(warm)} vs {fmt(noop)} msgs/s = {fmt(100 * warm / noop if warm and noop else None, 0)}%"),
        verdict_line("warm c=1 EOM p50 ≤ 3 ms", None if warm1_p50 is None else warm1_p50 <= 3,
                     f"p50 {fmt(warm1_p50, 2)} ms"),
        verdict_line("cold c=8 EOM p50 ≤ 40 ms", None if cold_p50 is None else cold_p50 <= 40,
                     f"p50 {fmt(cold_p50, 2)} ms"),
        verdict_line("2 workers ≥ 1.8× 1 worker, unpinned", None if not (one and two) else two >= 1.8 * one,
                     f"{fmt(two)} vs {fmt(one)} msgs/s = {ratio(two, one)}"),
        "",
    ]


def cold_line(results: Results) -> list[str]:
    runs = results.pick("cold", COLD_CONCURRENCY)
    if not runs:
        return []
    return ["## Cold cache", "",
            f"{TARGET_NAMES['cold']}, c={COLD_CONCURRENCY}: "
            f"{fmt(median_of(runs, lambda r: r.result['msgs_per_s']))} msgs/s, "
            f"EOM p50 {fmt(median_of(runs, lambda r: r.result['eom_p50_ms']), 2)} ms, "
            f"p99 {fmt(median_of(runs, lambda r: r.result['eom_p99_ms']), 2)} ms, "
            f"session p50 {fmt(median_of(runs, lambda r: r.result['session_p50_ms']), 2)} ms, "
            f"{fmt(median_of(runs, lambda r: r.cpu_ms_per_msg), 2)} CPU ms/msg. Fresh state dir and "
            "cache each round, measured from the first message; DNS answers 20 ms late with TTL 0, "
            "so every DNS lookup is a miss (negative answers and RDAP data are still cached, as "
            "they would be).", ""]


def record_idle(results: Results, workers: int, target: Target) -> None:
    results.idle.setdefault(workers, idle_memory(target))


def idle_memory(target: Target) -> list[tuple[str, dict[str, float]]]:
    """Each server process's memory after the first messages: the supervisor first."""
    commands = {pid: Path(f"/proc/{pid}/cmdline").read_text(errors="replace") for pid in target.pids()}
    own = [pid for pid, command in commands.items() if "spoofguard" in command and "checks.content.pdf" not in command]
    names = ["process"] if len(own) == 1 else ["supervisor"] + ["worker"] * (len(own) - 1)
    return [(name, resident_mb(pid)) for name, pid in zip(names, own, strict=True)]


def workers_section(results: Results) -> list[str]:
    rows = {count: results.pick(f"workers{count}", WORKERS_CONCURRENCY) for count in WORKER_LEVELS}
    if not all(rows.values()):
        return []
    lines = ["## Every core", "",
             f"spoofguard (warm) at c={WORKERS_CONCURRENCY}, server and load generator unpinned on CPUs {ALL_CPUS}:", "",
             "| milter.workers | msgs/s | EOM p50 ms | EOM p99 ms | CPU ms/msg | peak RSS MB (sum) |",
             "|---:|---:|---:|---:|---:|---:|"]
    for count, runs in rows.items():
        lines.append(f"| {count} | {median_cells(runs)} |")
    if results.idle:
        lines += ["", "Memory after the first messages, per process (MB; RSS counts shared pages in full, PSS a "
                      "fair share, USS only the process's own):", "",
                  "| milter.workers | process | RSS | PSS | USS |", "|---:|---|---:|---:|---:|"]
        for count, processes in sorted(results.idle.items()):
            lines += [f"| {count} | {name} | {m['rss']:.0f} | {m['pss']:.0f} | {m['uss']:.0f} |" for name, m in processes]
    return [*lines, ""]


def report(results: Results, timing: Timing, started: float) -> str:
    lines = ["# Milter throughput: spoofguard, no-op milter, rspamd", "",
             f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `bench/run_bench.py`"
             f"{' --quick' if timing.rounds == 1 else ''}: {timing.rounds} round(s), "
             f"{timing.duration:g} s per run ({timing.warmup:g} s warm-up not counted), medians over the rounds; "
             f"whole run {(time.monotonic() - started) / 60:.1f} min.", "", *machine_facts(), ""]
    lines += [f"- note: {note}" for note in results.notes]
    lines += ["## Warm cache", ""]
    for c in CONCURRENCY:
        lines += concurrency_table(results, c)
    lines += cold_line(results) + workers_section(results) + targets_section(results)
    lines += ["## How", "",
              "bench/milter_load.py plays Postfix (fresh connection per message, negotiation honoured), "
              "240 generated messages (2-50 KB: plain, HTML, attachments, newsletters, ~5% intimidation), "
              "20 client IPs, 14 sender domains. spoofguard runs the packaged config/spoofguard.toml with "
              "only DNS, RDAP, state and socket pointed at loopback servers started by the benchmark. "
              "rspamd: see bench/rspamd/README.md for its configuration and what is turned off. "
              "CPU ms/msg counts every thread and child process of the server (utime+stime); RSS is VmHWM "
              "summed over the server's processes (rspamd's main process, proxy and Hyperscan helper are "
              "forked and share pages, so its sum overstates what it holds).", ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round of 5 s runs, to try it out")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run, warm-up included")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--no-rspamd", action="store_true", help="leave rspamd out even when installed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    timing = (Timing(1, 5.0, 1.0, 2.0) if args.quick else Timing(args.rounds, args.duration, args.warmup, 3.0))
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        print("needs taskset (util-linux) and at least 2 CPUs", file=sys.stderr)
        return 1
    os.sched_setaffinity(0, {int(LOAD_CPU)})  # the loopback DNS/RDAP servers stay off the server's CPU
    started = time.monotonic()
    ips, domains = generator_pools()
    with tempfile.TemporaryDirectory(prefix="spoofguard-bench-") as tmp, \
            LoopbackDNS() as dns, LoopbackRDAP() as rdap:
        populate_dns(dns, ips, domains, WARM_TTL)
        populate_rdap(rdap, domains)
        have_rspamd = not args.no_rspamd and rspamd_version() is not None
        bench = Bench(Path(tmp), timing, dns, rdap, ips, domains, have_rspamd)
        results = bench.run()
    text = report(results, timing, started)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"\nwrote {args.output}\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
