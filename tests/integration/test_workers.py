"""``milter.workers``: a supervisor binds the socket once and forks workers that share it.

What an admin relies on: every worker takes connections, a worker that dies is replaced
without losing a message, a reload under load answers every session (the old workers
finish what they hold), the supervisor's death takes its workers with it so a restart
finds the port free, and the metrics endpoint adds the workers up.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

import pytest

from spoofguard.listeners import listen
from tests.support.bench_scripts import BENCH
from tests.support.dns_server import LoopbackDNS, wait_until
from tests.support.milter_process import MilterProcess, free_port


def load(target: str, messages: int, concurrency: int = 4) -> dict[str, Any]:
    args = [sys.executable, str(BENCH / "milter_load.py"), "--target", target, "--json", "--messages", str(messages),
            "--concurrency", str(concurrency), "--processes", "2", "--timeout", "20", "--count", "60"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def cpu_ticks(pid: int) -> int:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


@pytest.fixture()
def dns() -> Any:
    with LoopbackDNS() as server:
        yield server


def sections(dns: LoopbackDNS, **extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"dns": {"nameservers": ["127.0.0.1"], "port": dns.port, "timeout": 1.0},
            "analysis": {"budget": 3.0, "lookup_timeout": 1.0}, **extra}


def test_every_worker_takes_connections_and_a_dead_one_is_replaced(dns: LoopbackDNS) -> None:
    with MilterProcess(sections(dns, milter={"workers": 3})) as process:
        assert wait_until(lambda: "with 3 workers" in process.log(), timeout=30), process.log()
        workers = process.workers()
        assert len(workers) == 3
        before = {pid: cpu_ticks(pid) for pid in workers}
        result = load(f"inet:{process.port}@127.0.0.1", 150, concurrency=6)
        assert result["errors"] == {} and result["messages"] == 150
        busy = [pid for pid in workers if cpu_ticks(pid) - before[pid] >= 5]  # 50 ms of CPU or more
        assert len(busy) >= 2, f"the load went to {busy} of {workers}"

        os.kill(workers[0], signal.SIGKILL)
        assert wait_until(lambda: f"worker {workers[0]} was killed by signal 9; starting another" in process.log(),
                          timeout=10), process.log()
        assert wait_until(lambda: len(process.workers()) == 3, timeout=10)
        assert workers[0] not in process.workers()
        result = load(f"inet:{process.port}@127.0.0.1", 40)
        assert result["errors"] == {} and result["messages"] == 40


def test_reload_under_load_answers_every_session(dns: LoopbackDNS) -> None:
    with MilterProcess(sections(dns)) as process:
        assert wait_until(lambda: "with 2 workers" in process.log(), timeout=30)
        first = set(process.workers())
        outcome: dict[str, Any] = {}
        sender = threading.Thread(target=lambda: outcome.update(load(f"inet:{process.port}@127.0.0.1", 400)))
        sender.start()
        for _ in range(3):
            time.sleep(1.0)
            process.reload(sections(dns))
        sender.join(200)
        assert outcome["errors"] == {} and outcome["messages"] == 400, outcome
        assert process.log().count("configuration reloaded") == 3
        assert wait_until(lambda: len(process.workers()) == 2, timeout=30)
        assert not first & set(process.workers()), "the first workers were not replaced"


def test_a_bad_reload_keeps_the_running_workers(dns: LoopbackDNS) -> None:
    with MilterProcess(sections(dns)) as process:
        assert wait_until(lambda: "with 2 workers" in process.log(), timeout=30)
        workers = set(process.workers())
        process.reload(raw=process.config_path.read_text() + "\n[policy]\ntag = 'high'\n")
        assert "reload failed, keeping the running configuration" in process.log() and "policy.tag" in process.log()
        assert set(process.workers()) == workers
        assert load(f"inet:{process.port}@127.0.0.1", 20)["errors"] == {}


def test_killing_the_supervisor_takes_the_workers_and_frees_the_port(dns: LoopbackDNS) -> None:
    process = MilterProcess(sections(dns)).start()
    try:
        assert wait_until(lambda: "with 2 workers" in process.log(), timeout=30)
        workers = process.workers()
        process.signal(signal.SIGKILL)
        assert process.proc is not None
        process.proc.wait(10)
        assert wait_until(lambda: not any(alive(pid) for pid in workers), timeout=10), "a worker outlived its supervisor"
        assert wait_until(lambda: not listening(process.port), timeout=10), "the port is still held"
        process.start()  # what Restart=on-failure does
        assert load(f"inet:{process.port}@127.0.0.1", 20)["errors"] == {}
    finally:
        process.stop()


def alive(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def listening(port: int) -> bool:
    """Something still accepts on ``port`` (a killed process's threads may hold its
    sockets for a moment after its main thread is a zombie)."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_metrics_add_up_every_worker(dns: LoopbackDNS) -> None:
    port = free_port()
    with MilterProcess(sections(dns, metrics={"listen": f"127.0.0.1:{port}"}, milter={"workers": 3})) as process:
        assert wait_until(lambda: "with 3 workers" in process.log(), timeout=30)
        result = load(f"inet:{process.port}@127.0.0.1", 90, concurrency=6)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    total = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line.startswith("spoofguard_messages_total{"))
    assert total == result["messages"] == 90


def test_stop_waits_for_the_messages_in_progress(dns: LoopbackDNS) -> None:
    process = MilterProcess(sections(dns)).start()
    try:
        assert wait_until(lambda: "with 2 workers" in process.log(), timeout=30)
        outcome: dict[str, Any] = {}
        sender = threading.Thread(target=lambda: outcome.update(load(f"inet:{process.port}@127.0.0.1", 4000, 4)))
        sender.start()
        assert wait_until(lambda: len(process.verdict_lines()) >= 20, timeout=60)
        assert process.stop(30) == 0
        sender.join(60)
    finally:
        process.stop()
    # Sessions were in flight when SIGTERM came: each one a worker had begun finished with
    # a verdict. The others were refused, or dropped unanswered from the socket's queue
    # when it closed (what an MTA treats as the milter being down), never cut halfway.
    cut = {kind: n for kind, n in outcome.get("errors", {}).items()
           if not kind.startswith("connect:") and kind != "unanswered"}
    assert cut == {}, outcome.get("errors")


@pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset (util-linux) is not installed")
def test_workers_0_means_one_per_core_the_service_may_run_on() -> None:
    """A milter pinned to one core (CPUAffinity=, taskset) runs one worker, not one per
    core of the machine; a number set by the admin is taken as it is."""
    command = [sys.executable, "-c", "from spoofguard.workers import worker_count; print(worker_count(0), worker_count(3))"]
    pinned = subprocess.run(["taskset", "-c", "0", *command], capture_output=True, text=True, timeout=60, check=True)
    assert pinned.stdout.split() == ["1", "3"]


def test_listen_replaces_a_stale_unix_socket_but_not_a_file(tmp_path: Any) -> None:
    path = tmp_path / "spoofguard.sock"
    stale = listen(f"unix:{path}")
    stale.close()  # the file stays behind, as after a crash
    fresh = listen(f"unix:{path}")
    fresh.close()
    other = tmp_path / "not-a-socket"
    other.write_text("keep me")
    with pytest.raises(OSError):
        listen(f"unix:{other}")
    assert other.read_text() == "keep me"
