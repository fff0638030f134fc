"""The lookup cache breaking under a running milter, through Postfix.

The SQLite file is deleted, then held locked by another process, then overwritten with
garbage; with Redis configured, redis-server goes away and comes back. Through all of it
every message is delivered with its verdict, within the per-message budget, and the log
says the cache is unavailable at most once per ``cache.warn_interval``, not once per
failed lookup. Afterwards the cache is used again.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from tests.support.dns_server import LoopbackDNS, wait_until
from tests.support.messages import BENIGN, make_message
from tests.support.milter_process import MilterProcess
from tests.support.postfix import GOOD_IP, milter_sections, requires_postfix, send_from
from tests.support.postfix_harness import PostfixInstance
from tests.support.redis_server import RedisServer, redis_available
from tests.support.sqlite_faults import locked_by_another_process, overwrite_with_garbage

pytestmark = [requires_postfix, pytest.mark.postfix]

INTERVAL = 4.0  # cache.warn_interval for these tests
BUDGET = 3.0  # analysis.budget in milter_sections
# A warning is noticed after the message that caused it is delivered, so two noticed
# warnings may look closer together than they were by up to one message's time.
NOTICE_LAG = 1.5
MIN_MESSAGES_PER_FAULT = 4
MAX_MESSAGES = 25

_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def milter(dns: LoopbackDNS) -> Iterator[MilterProcess]:
    with MilterProcess(milter_sections(dns, cache={"warn_interval": INTERVAL})) as process:
        yield process


class WarningWatch:
    """Notes, as the milter's log grows, when each new line matching ``pattern`` showed up."""

    def __init__(self, milter: MilterProcess, pattern: str) -> None:
        self._milter = milter
        self._pattern = re.compile(pattern)
        self._earlier = len(self._matching())  # written before this watch began
        self.seen: list[tuple[float, str]] = []

    def _matching(self) -> list[str]:
        return [line for line in self._milter.log().splitlines() if self._pattern.search(line)]

    def poll(self) -> None:
        now = time.monotonic()
        self.seen.extend((now, line) for line in self._matching()[self._earlier + len(self.seen):])

    def wait_out_interval(self) -> None:
        """Until a new failure would be reported again."""
        if self.seen:
            time.sleep(max(0.0, self.seen[-1][0] + INTERVAL - time.monotonic()))

    def gaps(self) -> list[float]:
        """Between warnings of the same process: each worker keeps its own interval, and
        a line names its worker (``name[pid]:``)."""
        by_process: dict[str, list[float]] = {}
        for t, line in self.seen:
            found = re.search(r"\[(\d+)\]:", line)
            by_process.setdefault(found.group(1) if found else "", []).append(t)
        return [later - earlier for times in by_process.values() for earlier, later in zip(times, times[1:], strict=False)]


def deliver_checked(postfix: PostfixInstance, watch: WarningWatch) -> None:
    """One message from a domain never seen before (so its lookups reach the cache) is
    delivered with spoofguard's verdict, within the budget."""
    n = next(_numbers)
    domain = f"state{n}.test"
    message = make_message(BENIGN, subject=f"state-{n}", sender=f"News <news@{domain}>", to=f"state{n}@example.test")
    started = time.monotonic()
    result = send_from(postfix, GOOD_IP, message, rcpt=f"state{n}@example.test", mail_from=f"news@{domain}")
    assert result.accepted, result
    [raw] = postfix.wait_for_mail(f"state{n}", 1)
    assert time.monotonic() - started < BUDGET + 2.0
    delivered = email.message_from_bytes(raw, policy=email.policy.default)
    assert delivered["X-Spoofguard-Score"] is not None, "delivered without a verdict"
    watch.poll()


def send_until(postfix: PostfixInstance, watch: WarningWatch, done: Callable[[], bool], minimum: int) -> int:
    """Checked messages, at least ``minimum``, until ``done()``; how many were sent."""
    sent = 0
    while sent < minimum or not done():
        assert sent < MAX_MESSAGES, f"gave up after {sent} messages; warnings seen:\n{watch.seen}"
        deliver_checked(postfix, watch)
        sent += 1
    return sent


def run_through_fault(postfix: PostfixInstance, watch: WarningWatch, fault: AbstractContextManager[object]) -> int:
    """Messages sent while ``fault`` holds, until it has been reported; how many."""
    before = len(watch.seen)
    with fault:
        return send_until(postfix, watch, lambda: len(watch.seen) > before, MIN_MESSAGES_PER_FAULT)


def recovered(milter: MilterProcess, cache: str) -> Callable[[], bool]:
    """The log says ``cache`` works again after its last failure."""
    def check() -> bool:
        tail = milter.log().rsplit("unavailable, continuing without it", 1)[-1]
        return cache in tail and "is working again" in tail
    return check


def assert_reported_once_per_interval(watch: WarningWatch) -> None:
    assert all(gap >= INTERVAL - NOTICE_LAG for gap in watch.gaps()), (watch.gaps(), watch.seen)


@contextmanager
def applied(action: Callable[[], None]) -> Iterator[None]:
    action()
    yield


def cached_rows(path: Path) -> int:
    with sqlite3.connect(path, timeout=2) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM cache").fetchone()[0])


def remove_database(path: Path) -> None:
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        (path.parent / name).unlink(missing_ok=True)


def test_sqlite_file_deleted_locked_and_corrupted_costs_no_mail(postfix: PostfixInstance, milter: MilterProcess) -> None:
    cache = milter.dir / "cache.sqlite"
    watch = WarningWatch(milter, r"WARNING .*cache sqlite .* unavailable, continuing without it")
    for _ in range(2):
        deliver_checked(postfix, watch)
    assert cached_rows(cache) > 0 and not watch.seen

    faults: dict[str, AbstractContextManager[object]] = {
        "deleted": applied(lambda: remove_database(cache)),
        "locked": locked_by_another_process(cache),
        "corrupt": applied(lambda: overwrite_with_garbage(cache)),
    }
    sent = 0
    for name, fault in faults.items():
        watch.wait_out_interval()
        if name == "locked":
            assert wait_until(cache.exists, timeout=5)  # recreated after the deletion
        sent += run_through_fault(postfix, watch, fault)

    assert_reported_once_per_interval(watch)
    assert len(watch.seen) < sent  # the log was spared most failures...
    assert any("similar warnings suppressed" in line for _, line in watch.seen)  # ...and says how many
    print(f"SQLite deleted, locked, corrupt: {sent} messages delivered with a verdict, "
          f"{len(watch.seen)} warnings, gaps {[round(g, 1) for g in watch.gaps()]} s")
    assert "is corrupt; moved it to" in milter.log()
    assert list(milter.dir.glob("cache.sqlite.corrupt-*"))

    send_until(postfix, watch, recovered(milter, "cache sqlite"), minimum=2)  # a fresh, working database
    assert cached_rows(cache) > 0


@pytest.mark.skipif(not redis_available(), reason="redis-server is not installed (make test installs it)")
def test_redis_down_and_back_costs_no_mail(postfix: PostfixInstance, milter: MilterProcess, dns: LoopbackDNS) -> None:
    import redis

    with RedisServer() as server:
        milter.reload(milter_sections(dns, cache={"backend": "redis", "redis_url": server.url, "warn_interval": INTERVAL}))
        client = redis.Redis.from_url(server.url)
        watch = WarningWatch(milter, r"WARNING .*cache redis .* unavailable, continuing without it")
        deliver_checked(postfix, watch)
        assert client.keys("spoofguard:*") and not watch.seen

        sent = run_through_fault(postfix, watch, applied(server.stop))
        assert_reported_once_per_interval(watch)
        assert len(watch.seen) < sent
        print(f"Redis down: {sent} messages delivered with a verdict, {len(watch.seen)} warning(s)")

        server.start()  # same port, empty: redis-server was started without persistence
        send_until(postfix, watch, recovered(milter, "cache redis"), minimum=2)  # after the back-off
        assert wait_until(lambda: bool(client.keys("spoofguard:*")), timeout=5)
        milter.reload(milter_sections(dns, cache={"warn_interval": INTERVAL}))


def test_no_cache_at_all_is_a_supported_setting(postfix: PostfixInstance, milter: MilterProcess, dns: LoopbackDNS) -> None:
    milter.reload(milter_sections(dns, cache={"backend": "none"}))
    try:
        watch = WarningWatch(milter, r"WARNING .*cache")
        deliver_checked(postfix, watch)
        assert not watch.seen
    finally:
        milter.reload(milter_sections(dns, cache={"warn_interval": INTERVAL}))
