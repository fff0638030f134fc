"""Early-started lookups: per-lookup timeout, per-message budget, never raising.

Timings use generous margins: a slow machine may make things slower, never faster, so
every bound is an upper bound well clear of the interesting durations.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from spoofguard.lookups import LookupSession, LookupStatus

SLOW = 1.0  # how long a "slow" lookup would take if nobody stopped waiting


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown so slow lookups end at once instead of holding the pool."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def executor(release: threading.Event) -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="test-lookup")
    yield pool
    release.set()
    pool.shutdown(wait=True, cancel_futures=True)


def slow(release: threading.Event, seconds: float = SLOW, value: object = "late") -> Callable[[], object]:
    def fn() -> object:
        release.wait(seconds)
        return value

    return fn


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    result = fn()
    return result, time.monotonic() - started


def test_lookup_finished_before_result_returns_at_once(executor: ThreadPoolExecutor) -> None:
    session = LookupSession(executor, budget=5.0, default_timeout=2.0)
    done = threading.Event()

    def lookup() -> str:
        time.sleep(0.3)
        done.set()
        return "mail.example.org"

    session.start("ptr:192.0.2.1", lookup)
    assert session.started("ptr:192.0.2.1")
    assert done.wait(3.0)
    time.sleep(0.05)  # let the done-callback run
    result, elapsed = timed(lambda: session.result("ptr:192.0.2.1"))
    assert result.status is LookupStatus.OK  # type: ignore[attr-defined]
    assert result.ok  # type: ignore[attr-defined]
    assert result.value == "mail.example.org"  # type: ignore[attr-defined]
    assert result.finished_at is not None  # type: ignore[attr-defined]
    assert elapsed < 0.15  # well under the 0.3 s the lookup took


def test_early_start_overlaps_with_other_work(executor: ThreadPoolExecutor) -> None:
    session = LookupSession(executor, budget=5.0, default_timeout=2.0)
    session.start("k", lambda: (time.sleep(0.5), 42)[1])
    time.sleep(0.4)  # the milter receiving headers and body meanwhile
    result, waited = timed(lambda: session.result("k"))
    assert result.value == 42  # type: ignore[attr-defined]
    assert waited < 0.35  # only the rest of the lookup, not its full 0.5 s


def test_lookup_slower_than_its_timeout_gives_timeout(executor: ThreadPoolExecutor, release: threading.Event) -> None:
    session = LookupSession(executor, budget=5.0, default_timeout=0.2)
    session.start("slow", slow(release))
    result, elapsed = timed(lambda: session.result("slow"))
    assert result.status is LookupStatus.TIMEOUT  # type: ignore[attr-defined]
    assert not result.ok  # type: ignore[attr-defined]
    assert result.value is None  # type: ignore[attr-defined]
    assert "lookup timeout" in result.reason  # type: ignore[attr-defined]
    assert 0.1 < elapsed < 0.45


def test_per_lookup_timeout_overrides_the_default(executor: ThreadPoolExecutor, release: threading.Event) -> None:
    session = LookupSession(executor, budget=5.0, default_timeout=3.0)
    session.start("slow", slow(release), timeout=0.2)
    result, elapsed = timed(lambda: session.result("slow"))
    assert result.status is LookupStatus.TIMEOUT  # type: ignore[attr-defined]
    assert elapsed < 0.45


def test_timeout_counts_from_the_start_not_from_result(executor: ThreadPoolExecutor, release: threading.Event) -> None:
    session = LookupSession(executor, budget=5.0, default_timeout=0.3)
    session.start("slow", slow(release))
    time.sleep(0.4)  # already past its timeout when we ask
    result, elapsed = timed(lambda: session.result("slow"))
    assert result.status is LookupStatus.TIMEOUT  # type: ignore[attr-defined]
    assert elapsed < 0.15


def test_message_budget_shorter_than_timeout_cuts_the_wait(executor: ThreadPoolExecutor, release: threading.Event) -> None:
    session = LookupSession(executor, budget=0.2, default_timeout=2.0)
    session.start("slow", slow(release))
    result, elapsed = timed(lambda: session.result("slow"))
    assert result.status is LookupStatus.TIMEOUT  # type: ignore[attr-defined]
    assert "budget" in result.reason  # type: ignore[attr-defined]
    assert elapsed < 0.45


def test_budget_is_shared_by_all_lookups_of_a_message(executor: ThreadPoolExecutor, release: threading.Event) -> None:
    session = LookupSession(executor, budget=0.3, default_timeout=2.0)
    session.start("a", slow(release))
    session.start("b", slow(release))
    started = time.monotonic()
    first = session.result("a")
    second = session.result("b")
    elapsed = time.monotonic() - started
    assert first.status is LookupStatus.TIMEOUT and second.status is LookupStatus.TIMEOUT
    assert elapsed < 0.55  # not two full budgets


def test_lookup_not_started_before_budget_is_spent_is_skipped(executor: ThreadPoolExecutor) -> None:
    session = LookupSession(executor, budget=0.05, default_timeout=2.0)
    calls: list[int] = []
    time.sleep(0.1)
    result = session.result("late", lambda: calls.append(1))
    assert result.status is LookupStatus.SKIPPED
    assert calls == []


def test_restart_budget_gives_a_new_message_a_fresh_budget(executor: ThreadPoolExecutor) -> None:
    session = LookupSession(executor, budget=0.1, default_timeout=2.0)
    session.start("ptr", lambda: "host.example")
    assert session.result("ptr").value == "host.example"
    time.sleep(0.15)
    assert session.remaining == 0.0
    session.restart_budget()
    assert session.remaining > 0.05
    # a lookup finished for the first message is still there for the second
    assert session.result("ptr").value == "host.example"
    assert session.result("new", lambda: 7).value == 7


@pytest.mark.parametrize("inline", [False, True], ids=["pool", "inline"])
def test_lookup_that_raises_gives_error_with_the_exception_text(executor: ThreadPoolExecutor, inline: bool) -> None:
    session = LookupSession(None if inline else executor, budget=5.0, default_timeout=2.0)

    def broken() -> None:
        raise ValueError("resolver returned garbage")

    session.start("bad", broken)
    result = session.result("bad")
    assert result.status is LookupStatus.ERROR
    assert result.reason == "ValueError: resolver returned garbage"
    assert result.value is None


def test_result_of_a_key_never_started_without_fn_is_an_error(executor: ThreadPoolExecutor) -> None:
    session = LookupSession(executor, budget=5.0, default_timeout=2.0)
    result = session.result("never")
    assert result.status is LookupStatus.ERROR
    assert "'never'" in result.reason and "never started" in result.reason


def test_result_with_fn_starts_a_lookup_nobody_started(executor: ThreadPoolExecutor) -> None:
    session = LookupSession(executor, budget=5.0, default_timeout=2.0)
    result = session.result("lazy", lambda: "answer")
    assert result.ok and result.value == "answer"
    assert session.started("lazy")


def test_starting_the_same_key_twice_runs_once(executor: ThreadPoolExecutor) -> None:
    session = LookupSession(executor, budget=5.0, default_timeout=2.0)
    calls: list[str] = []
    lock = threading.Lock()

    def lookup(tag: str) -> Callable[[], str]:
        def fn() -> str:
            with lock:
                calls.append(tag)
            time.sleep(0.05)
            return tag
        return fn

    session.start("k", lookup("first"))
    session.start("k", lookup("second"))
    result = session.result("k", lookup("third"))
    assert calls == ["first"]
    assert result.value == "first"


def test_concurrent_starts_of_one_key_run_once(executor: ThreadPoolExecutor) -> None:
    session = LookupSession(executor, budget=5.0, default_timeout=2.0)
    calls: list[int] = []
    lock = threading.Lock()
    go = threading.Barrier(6)

    def fn() -> int:
        with lock:
            calls.append(1)
        return 1

    def starter() -> None:
        go.wait()
        session.start("shared", fn)

    threads = [threading.Thread(target=starter) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5.0)
    assert session.result("shared").value == 1
    assert calls == [1]


def test_inline_session_runs_lookups_synchronously() -> None:
    session = LookupSession(None, budget=5.0, default_timeout=2.0)
    calls: list[int] = []
    session.start("k", lambda: calls.append(1) or "v")
    assert calls == [1]  # ran during start()
    assert session.result("k").value == "v"


def test_pool_shut_down_gives_error_not_exception() -> None:
    pool = ThreadPoolExecutor(max_workers=1)
    pool.shutdown()
    session = LookupSession(pool, budget=5.0, default_timeout=2.0)
    session.start("k", lambda: 1)
    result = session.result("k")
    assert result.status is LookupStatus.ERROR
    assert "RuntimeError" in result.reason


def test_timeout_reason_names_the_lookup_timeout_when_that_was_the_limit(
    executor: ThreadPoolExecutor, release: threading.Event
) -> None:
    session = LookupSession(executor, budget=0.35, default_timeout=0.2)
    session.start("slow", slow(release))
    result = session.result("slow")
    assert result.status is LookupStatus.TIMEOUT
    assert result.reason == "lookup timeout reached"
