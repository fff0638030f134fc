"""The data a decision is made of: signals in, a verdict out."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .edits import HeaderEdit


class SignalKind(StrEnum):
    """What a signal says about the message; the policy guard reads these."""

    CONTENT = "content"  # intimidation content
    SENDER_RISK = "sender_risk"  # the sender is not who it claims, is new, or is known bad
    INFO = "info"  # context that moves the score but neither guard condition
    NOTICE = "notice"  # shown to the user even at weight 0 (first contact)
    ERROR = "error"  # a check could not give an answer


UNSCANNED_TEXT = "message.unscanned_text"


class Action(StrEnum):
    ACCEPT = "accept"
    TAG = "tag"
    QUARANTINE = "quarantine"
    REJECT = "reject"
    TEMPFAIL = "tempfail"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {
    Action.ACCEPT: 0,
    Action.TAG: 1,
    Action.QUARANTINE: 2,
    Action.REJECT: 3,
    Action.TEMPFAIL: 4,
}


@dataclass(frozen=True, slots=True)
class Signal:
    """One reason the score moved. ``name`` is ``<check>.<what>``, e.g. ``content.threat_of_harm``."""

    name: str
    score: float
    detail: str
    kind: SignalKind = SignalKind.INFO
    # For ERROR signals: the most this check could have added, and as what, had it answered.
    # The policy uses them to tell whether the missing answer could change the outcome.
    potential: float = 0.0
    stands_for: SignalKind | None = None

    @property
    def check(self) -> str:
        return self.name.split(".", 1)[0]

    @classmethod
    def unknown(cls, name: str, detail: str, potential: float, stands_for: SignalKind) -> Signal:
        """A check (or one of its lookups) could not answer: unknown, never a failure."""
        return cls(name, 0.0, detail, SignalKind.ERROR, potential, stands_for)


@dataclass(frozen=True, slots=True)
class Thresholds:
    tag: float
    quarantine: float
    reject: float | None  # None: reject disabled

    def describe(self) -> str:
        parts = [f"tag>={self.tag:.1f}", f"quarantine>={self.quarantine:.1f}"]
        if self.reject is not None:
            parts.append(f"reject>={self.reject:.1f}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision and everything needed to explain it."""

    action: Action
    score: float
    signals: tuple[Signal, ...]
    thresholds: Thresholds
    reason: str
    elapsed_ms: float = 0.0
    dry_run: bool = False
    intended_action: Action | None = None  # what would have happened outside dry run
    edits: tuple[HeaderEdit, ...] = ()  # header changes the checks asked for
    check_ms: tuple[tuple[str, float], ...] = ()  # time each check took, for metrics

    @property
    def degraded(self) -> bool:
        """True when some check could not answer and the verdict rests on less evidence."""
        return any(s.kind is SignalKind.ERROR for s in self.signals)

    @property
    def moving_signals(self) -> tuple[Signal, ...]:
        """Signals that moved the score, report a failure, or are there to be shown."""
        return tuple(s for s in self.signals if s.score != 0 or s.kind in (SignalKind.ERROR, SignalKind.NOTICE))

    @property
    def unscanned(self) -> str:
        """What text the scan left unread ("" when it read everything)."""
        return next((s.detail for s in self.signals if s.name == UNSCANNED_TEXT), "")

    @property
    def categories(self) -> tuple[str, ...]:
        """The intimidation moves found and the genre they make ("harm", "sextortion")."""
        seen: dict[str, None] = {}
        for s in self.signals:
            category = s.name.split(".", 1)[-1]
            if s.kind is SignalKind.CONTENT and s.score > 0 and category != "evasion":
                seen[category] = None
        return tuple(seen)

    def to_dict(self) -> dict[str, object]:
        return {
            "action": self.action.value,
            "score": round(self.score, 2),
            "reason": self.reason,
            "thresholds": {
                "tag": self.thresholds.tag,
                "quarantine": self.thresholds.quarantine,
                "reject": self.thresholds.reject,
            },
            "dry_run": self.dry_run,
            "intended_action": self.intended_action.value if self.intended_action else None,
            "degraded": self.degraded,
            "unscanned": self.unscanned,
            "elapsed_ms": round(self.elapsed_ms, 2),
            "categories": list(self.categories),
            "signals": [
                {"name": s.name, "score": s.score, "kind": s.kind.value, "detail": s.detail}
                for s in self.signals
            ],
        }
