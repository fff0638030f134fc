"""Checks: small objects with a name that turn a message into signals.

A check may start network lookups early (``prefetch``) as soon as the input it needs is
known, and reads their results in ``run``. It must not raise; if it does anyway, the core
turns the exception into an *unknown* signal and the configured error outcome.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Protocol, runtime_checkable

from ..lookups import LookupSession
from ..message import Message
from ..verdict import Signal, SignalKind


class Stage(IntEnum):
    """When a check's input becomes known during the SMTP transaction."""

    CONNECT = 1  # client IP and name
    MAIL = 2  # envelope sender and HELO
    HEADERS = 3  # all header fields


@runtime_checkable
class Check(Protocol):
    name: str
    kind: SignalKind  # what its positive signals say, for the policy guard

    @property
    def max_score(self) -> float:
        """The most this check can add; what an unanswered check might have been worth."""

    def prefetch(self, stage: Stage, message: Message, lookups: LookupSession) -> None:
        """Start lookups whose input is now known. Must be cheap and must not block."""

    def run(self, message: Message, lookups: LookupSession) -> list[Signal]:
        """Signals for the whole message, waiting only for lookups still running."""
