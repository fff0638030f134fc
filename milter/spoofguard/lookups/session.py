"""Early-started lookups.

A check knows what it will need to look up long before end-of-message: the client IP at
connect, the envelope domain at MAIL FROM, the From domain at end of headers. Starting
those lookups then, on a pool shared by all connections, means end-of-message only waits
for what is still running. Each lookup has its own timeout and the whole message a budget;
a lookup that overruns either is reported as a timeout, an *unknown*, never as a failure of
the thing being looked up.
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class LookupStatus(StrEnum):
    OK = "ok"
    TIMEOUT = "timeout"
    ERROR = "error"
    SKIPPED = "skipped"  # the message budget was spent before it could start


@dataclass(frozen=True, slots=True)
class LookupResult(Generic[T]):
    status: LookupStatus
    value: T | None = None
    reason: str = ""
    started_at: float = 0.0
    finished_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is LookupStatus.OK


@dataclass(slots=True)
class _Pending:
    future: Future[object]
    timeout: float
    started_at: float
    finished_at: float | None = None


class LookupPool:
    """One thread pool for every connection's lookups, so concurrency stays bounded."""

    def __init__(self, workers: int = 32) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lookup")

    def session(self, budget: float, default_timeout: float) -> LookupSession:
        return LookupSession(self._executor, budget, default_timeout)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class LookupSession:
    """The lookups of one message, keyed so a check can start one early and read it late.

    The budget clock starts when the session is created (at connect or MAIL FROM).
    """

    def __init__(
        self,
        executor: ThreadPoolExecutor | None,
        budget: float,
        default_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._executor = executor
        self._clock = clock
        self.budget = budget
        self.default_timeout = default_timeout
        self.created_at = clock()
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    @property
    def remaining(self) -> float:
        return max(0.0, self.created_at + self.budget - self._clock())

    def restart_budget(self) -> None:
        """A new message on the same connection gets a fresh budget; finished lookups stay."""
        self.created_at = self._clock()

    def start(self, key: str, fn: Callable[[], T], timeout: float | None = None) -> None:
        """Begin ``fn`` in the background unless ``key`` is already started."""
        with self._lock:
            if key in self._pending:
                return
            started = self._clock()
            pending = _Pending(
                future=Future(),
                timeout=self.default_timeout if timeout is None else timeout,
                started_at=started,
            )
            self._pending[key] = pending
        if self._executor is None:  # offline / synchronous use (CLI, unit tests)
            self._run_inline(pending, fn)
            return
        try:
            # in the caller's context, so the lookup's log lines name its message
            future = self._executor.submit(contextvars.copy_context().run, fn)
        except RuntimeError as exc:  # pool shut down during reload or stop
            pending.future.set_exception(exc)
            return
        future.add_done_callback(functools.partial(self._finish, pending))

    def started(self, key: str) -> bool:
        with self._lock:
            return key in self._pending

    def result(
        self, key: str, fn: Callable[[], T] | None = None, timeout: float | None = None
    ) -> LookupResult[T]:
        """Wait for ``key`` (starting it with ``fn`` if nobody did) within timeout and budget."""
        if not self.started(key):
            if fn is None:
                return LookupResult(LookupStatus.ERROR, reason=f"lookup {key!r} was never started")
            if self.remaining <= 0:
                return LookupResult(LookupStatus.SKIPPED, reason="message time budget spent")
            self.start(key, fn, timeout)
        pending = self._pending[key]
        own_left = pending.started_at + pending.timeout - self._clock()
        budget_left = self.remaining
        wait = max(0.0, min(own_left, budget_left))
        try:
            value = pending.future.result(timeout=wait)
        except FutureTimeout:
            limit = "lookup timeout" if own_left <= budget_left else "message time budget"
            return LookupResult(
                LookupStatus.TIMEOUT, reason=f"{limit} reached", started_at=pending.started_at
            )
        except Exception as exc:  # a lookup function's bug must not reach the milter
            return LookupResult(
                LookupStatus.ERROR,
                reason=f"{type(exc).__name__}: {exc}",
                started_at=pending.started_at,
                finished_at=pending.finished_at,
            )
        return LookupResult(
            LookupStatus.OK,
            value=value,  # type: ignore[arg-type]
            started_at=pending.started_at,
            finished_at=pending.finished_at,
        )

    def _finish(self, pending: _Pending, future: Future[object]) -> None:
        pending.finished_at = self._clock()
        exc = future.exception()
        if exc is not None:
            pending.future.set_exception(exc)
        else:
            pending.future.set_result(future.result())

    def _run_inline(self, pending: _Pending, fn: Callable[[], object]) -> None:
        try:
            value = fn()
        except Exception as exc:
            pending.finished_at = self._clock()
            pending.future.set_exception(exc)
            return
        pending.finished_at = self._clock()
        pending.future.set_result(value)
