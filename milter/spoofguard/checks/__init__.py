"""Checks: small objects with a name that turn a message into findings.

A check may start network lookups early (``prefetch``) as soon as the input it needs is
known, and reads their results in ``run``. It returns ``Findings``: signals for the score,
header edits for the MTA, and facts (typed results, such as an ``AuthSummary``) for the
checks that declare they need it (``requires``, or ``uses`` when they can do without). A
check never writes into the message it is given. It must not raise; if it does anyway,
the core turns the exception into an *unknown* signal and the configured error outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol, TypeVar, runtime_checkable

from ..edits import HeaderEdit
from ..lookups import LookupSession
from ..message import Message
from ..verdict import Signal, SignalKind

T = TypeVar("T")


class Stage(IntEnum):
    """When a check's input becomes known during the SMTP transaction."""

    CONNECT = 1  # client IP and name
    MAIL = 2  # envelope sender and HELO
    HEADERS = 3  # all header fields


@dataclass(frozen=True, slots=True)
class Findings:
    """What one check found about one message."""

    signals: tuple[Signal, ...] = ()
    edits: tuple[HeaderEdit, ...] = ()  # header changes for the MTA to make
    facts: tuple[object, ...] = ()  # typed results for the checks that need them


class Facts:
    """The facts the checks run so far have found, by type: ``facts.get(AuthSummary)``."""

    def __init__(self, found: Iterable[object] = ()) -> None:
        self._by_type: dict[type, object] = {}
        for fact in found:
            self.add(fact)

    def add(self, fact: object) -> None:
        self._by_type[type(fact)] = fact

    def get(self, kind: type[T]) -> T | None:
        fact = self._by_type.get(kind)
        return fact if isinstance(fact, kind) else None


@runtime_checkable
class Check(Protocol):
    name: str
    kind: SignalKind  # what its positive signals say, for the policy guard
    requires: tuple[str, ...]  # checks whose facts it cannot judge without: they run first
    uses: tuple[str, ...]  # checks whose facts it reads when they run: they run first if enabled

    @property
    def max_score(self) -> float:
        """The most this check can add; what an unanswered check might have been worth."""

    def prefetch(self, stage: Stage, message: Message, lookups: LookupSession) -> None:
        """Start lookups whose input is now known. Must be cheap and must not block."""

    def run(self, message: Message, lookups: LookupSession, facts: Facts) -> Findings:
        """Findings for the whole message, waiting only for lookups still running."""


class CheckOrderError(ValueError):
    """Checks that cannot be ordered: a required check missing, or a cycle."""

    def __init__(self, check: str, problem: str) -> None:
        super().__init__(f"{check}: {problem}")
        self.check = check
        self.problem = problem


def in_order(checks: Iterable[Check]) -> tuple[Check, ...]:
    """``checks`` so that each runs after those it requires or uses; the given order
    otherwise. Raises ``CheckOrderError`` on a missing required check or a cycle."""
    pending = list(checks)
    names = {c.name for c in pending}
    for check in pending:
        for needed in check.requires:
            if needed not in names:
                raise CheckOrderError(check.name, f"requires the {needed} check, which is not enabled")
    ordered: list[Check] = []
    done: set[str] = set()
    while pending:
        ready = next((c for c in pending
                      if all(n in done for n in (*c.requires, *c.uses) if n in names)), None)
        if ready is None:
            raise CheckOrderError(pending[0].name, "its requirements form a cycle: "
                                  + ", ".join(f"{c.name} needs {', '.join((*c.requires, *c.uses))}" for c in pending))
        ordered.append(ready)
        done.add(ready.name)
        pending.remove(ready)
    return tuple(ordered)
