"""Smoke runs of bench/milter_load.py against the no-op milter and the real spoofguard.

The load generator is only worth its figures if it speaks the protocol as Postfix does:
every session must end in a final reply without protocol errors, stages the milter
switched off must not be sent, and the generated mail must reach spoofguard's verdicts
(an intimidation message held or tagged), not just its socket.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.bench_scripts import BENCH, bench_module
from tests.support.dns_server import LoopbackDNS, wait_until
from tests.support.milter_process import MilterProcess, free_port

MESSAGES = 40
FINAL = {"accept", "continue", "reject", "tempfail", "discard", "replycode"}
STAGES = set("CHMRTLNB")


def run_load(target: str, *extra: str) -> dict[str, Any]:
    args = [sys.executable, str(BENCH / "milter_load.py"), "--target", target, "--json",
            "--messages", str(MESSAGES), "--concurrency", "4", "--processes", "2", "--timeout", "10", "--count", str(MESSAGES), *extra]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def assert_all_answered(result: dict[str, Any]) -> None:
    assert result["errors"] == {}
    assert result["messages"] == MESSAGES
    assert sum(n for kind, n in result["verdicts"].items() if kind in FINAL) == MESSAGES


@pytest.fixture(scope="module", params=["eom-only", "every-step"])
def noop(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(mode, target) of a running bench/noop_milter.py."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / "noop_milter.py"), "--socket", f"inet:{port}@127.0.0.1", "--mode", request.param],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        assert wait_until(lambda: listening(port), timeout=10), "noop milter did not start"
        yield request.param, f"inet:{port}@127.0.0.1"
    finally:
        proc.terminate()
        proc.wait(10)


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def spoofguard() -> Iterator[MilterProcess]:
    """The real milter, resolving through a loopback DNS server that knows no names: every
    generated sender is unauthenticated, which is the sender risk quarantine needs."""
    with LoopbackDNS() as dns, MilterProcess({
        "dns": {"nameservers": ["127.0.0.1"], "port": dns.port, "timeout": 1.0},
        "analysis": {"budget": 3.0, "lookup_timeout": 1.0},
    }) as process:
        yield process


def test_noop_answers_every_message(noop: tuple[str, str]) -> None:
    assert_all_answered(run_load(noop[1]))


def test_generator_sends_only_the_stages_negotiated(noop: tuple[str, str]) -> None:
    mode, target = noop
    sent = run_load(target)["packets_sent"]
    assert sent["O"] == sent["E"] == sent["Q"] == MESSAGES
    if mode == "eom-only":
        assert STAGES.isdisjoint(sent), sent  # the milter disabled them all
    else:
        assert sent["C"] == sent["T"] == sent["N"] == MESSAGES
        assert sent["L"] >= 10 * MESSAGES and sent["B"] >= MESSAGES


def test_spoofguard_holds_or_tags_intimidation(spoofguard: MilterProcess) -> None:
    result = run_load(f"inet:{spoofguard.port}@127.0.0.1")
    assert_all_answered(result)
    intimidation = result["categories"]["intimidation"]
    held_or_tagged = sum(intimidation.get(k, 0) for k in (
        "quarantine", "reject", "chgheader:Subject", "addheader:X-Spoofguard-Report"))
    assert held_or_tagged >= 1, intimidation
    assert result["modifications"].get("addheader:X-Spoofguard-Score", 0) == result["verdicts"]["accept"]


# -- the generator's negotiation, against a scripted milter -------------------------------


def scripted_milter(server: socket.socket, reply: bytes, received: list[tuple[str, bytes]]) -> None:
    """Answer negotiation with ``reply``, accept at end of message, record every packet.

    Connect is no-reply in ``reply``, so it gets no answer: a generator that waited for
    one would time out instead of finishing."""
    conn, _ = server.accept()
    with conn, conn.makefile("rb") as stream:
        while head := stream.read(4):
            body = stream.read(struct.unpack(">I", head)[0])
            cmd = chr(body[0])
            received.append((cmd, body[1:]))
            if cmd == "O":
                conn.sendall(struct.pack(">I", len(reply) + 1) + b"O" + reply)
            elif cmd == "E":
                conn.sendall(struct.pack(">I", 1) + b"a")
            elif cmd == "Q":
                return
            elif cmd not in "DC":
                conn.sendall(struct.pack(">I", 1) + b"c")


def test_session_honours_disabled_stages_no_reply_and_macro_lists() -> None:
    bench = bench_module("milter_load")
    mail = bench.generate(1, seed=7)[0]
    # Headers and body off, connect no-reply, and only {client_addr} wanted at connect.
    protocol = bench.P_NOHDRS | bench.P_NOBODY | bench.P_NR_CONN | bench.P_NOHELO
    reply = struct.pack(">IIII", 6, 0, protocol, 0) + b"{client_addr}\0"
    received: list[tuple[str, bytes]] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        thread = threading.Thread(target=scripted_milter, args=(server, reply, received))
        thread.start()
        outcome = bench.run_session((socket.AF_INET, server.getsockname()), mail, "Q1", 5.0)
        thread.join(5)
    assert outcome.error is None and outcome.verdict == "accept"
    commands = [cmd for cmd, _ in received]
    assert not {"L", "B", "H"} & set(commands)
    assert commands[:4] == ["O", "D", "C", "D"]  # no wait after C: MAIL's macros follow at once
    assert received[1][1] == b"C{client_addr}\0" + mail.client_ip.encode() + b"\0"


def test_negotiation_reply_with_macro_lists_is_parsed() -> None:
    bench = bench_module("milter_load")
    data = struct.pack(">III", 6, 0x1FF, 0x77F) + struct.pack(">I", 2) + b"i {auth_authen}\0"
    negotiated = bench.parse_negotiation(data)
    assert negotiated.macros == {"M": ("i", "{auth_authen}")}
    assert not negotiated.sends("L") and not negotiated.sends("B") and negotiated.sends("E")
    with pytest.raises(bench.ProtocolError):
        bench.parse_negotiation(struct.pack(">III", 6, 0, 0x80000000))


def test_metrics_endpoint_counts_verdicts_checks_caches_and_reloads() -> None:
    import urllib.request

    port = free_port()
    with LoopbackDNS() as dns, MilterProcess({
        "dns": {"nameservers": ["127.0.0.1"], "port": dns.port, "timeout": 1.0},
        "analysis": {"budget": 3.0, "lookup_timeout": 1.0},
        "metrics": {"listen": f"127.0.0.1:{port}"},
    }) as process:
        result = run_load(f"inet:{process.port}@127.0.0.1")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
        process.reload()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            after_reload = response.read().decode()

    def value(line_start: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start))

    assert value("spoofguard_messages_total{") == result["messages"]
    assert value('spoofguard_messages_total{action="quarantine"}') == result["verdicts"].get("quarantine", 0)
    assert value('spoofguard_check_seconds_count{check="content"}') == result["messages"]
    assert value("spoofguard_message_seconds_count") == result["messages"]
    assert value('spoofguard_signals_total{signal="content.harm"}') >= 1
    assert value("spoofguard_dns_cache_hits_total") > 0  # the same senders come back
    assert 'spoofguard_config_reloads_total{result="ok"} 1.0' in after_reload
