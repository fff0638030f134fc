"""Repeated warnings reach the log once per interval, and say how many were held back."""

from __future__ import annotations

import logging

import pytest

from spoofguard.lookups.ratelimit import RateLimitedLog

LOGGER = "spoofguard.test.ratelimit"


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log(clock: Clock) -> RateLimitedLog:
    return RateLimitedLog(logging.getLogger(LOGGER), interval=60.0, clock=clock)


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_first_warning_is_logged(log: RateLimitedLog, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    assert log.warning("zen", "list %s unusable: %s", "zen", "refused") is True
    assert messages(caplog) == ["list zen unusable: refused"]
    assert caplog.records[-1].levelno == logging.WARNING


def test_repeat_within_the_interval_is_suppressed(
    log: RateLimitedLog, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    assert log.warning("zen", "list unusable")
    clock.now += 30
    assert log.warning("zen", "list unusable") is False
    clock.now += 29.9
    assert log.warning("zen", "list unusable") is False
    assert messages(caplog) == ["list unusable"]


def test_different_keys_are_independent(
    log: RateLimitedLog, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    assert log.warning("zen", "zen broken")
    assert log.warning("cache", "cache unreachable")
    clock.now += 1
    assert log.warning("zen", "zen broken") is False
    assert log.warning("other", "other broken") is True
    assert messages(caplog) == ["zen broken", "cache unreachable", "other broken"]


def test_after_the_interval_it_logs_again_with_the_suppressed_count(
    log: RateLimitedLog, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    assert log.warning("zen", "list %s unusable", "zen")
    for _ in range(3):
        clock.now += 10
        assert not log.warning("zen", "list %s unusable", "zen")
    clock.now = 100.0 + 60.0  # exactly one interval after the first warning
    assert log.warning("zen", "list %s unusable", "zen") is True
    assert messages(caplog) == [
        "list zen unusable",
        "list zen unusable (3 similar warnings suppressed)",
    ]


def test_suppressed_count_starts_over_after_it_was_reported(
    log: RateLimitedLog, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    log.warning("zen", "broken")
    clock.now += 1
    log.warning("zen", "broken")
    clock.now += 60
    log.warning("zen", "broken")  # reports 1 suppressed
    clock.now += 60
    assert log.warning("zen", "broken") is True  # nothing suppressed in between
    assert messages(caplog) == ["broken", "broken (1 similar warnings suppressed)", "broken"]


def test_interval_restarts_from_the_last_written_warning(
    log: RateLimitedLog, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    log.warning("zen", "broken")  # t=100
    clock.now += 60
    log.warning("zen", "broken")  # t=160, written
    clock.now += 30
    assert log.warning("zen", "broken") is False  # t=190, 30 s after the last write


def test_message_with_percent_and_no_args_is_logged_verbatim(
    log: RateLimitedLog, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    assert log.warning("k", "100% broken")
    assert messages(caplog) == ["100% broken"]


def test_suppressed_count_is_added_to_a_message_with_a_literal_percent(
    log: RateLimitedLog, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    # A message logged without arguments is not %-formatted, so "100%" is plain text; adding
    # the suppressed count must not turn it into a broken format string and lose the warning.
    caplog.set_level(logging.WARNING, logger=LOGGER)
    log.warning("k", "cache 100% full")
    clock.now += 1
    log.warning("k", "cache 100% full")
    clock.now += 60
    assert log.warning("k", "cache 100% full") is True
    assert messages(caplog) == ["cache 100% full", "cache 100% full (1 similar warnings suppressed)"]
