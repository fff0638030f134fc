"""Score to action, with the guard that keeps content alone from holding mail.

A newsletter quoting a threat scores on content but comes from an authenticated, known
sender; holding it would teach users to distrust the quarantine. So by default
``quarantine`` and ``reject`` need intimidation content *and* a sender-risk signal, and
content alone can at most tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .sections import NonNegative, Section
from .verdict import Action, Signal, SignalKind, Thresholds

AUTHENTICATED_LIST = "auth.authenticated_list"  # see checks.auth

OnError = Literal["accept", "tempfail"]


class Policy(Section, frozen=True):
    """``[policy]``: score thresholds and the guards around them."""

    tag: float = 4.0
    quarantine: float = 8.0
    reject: float = 15.0
    reject_enabled: bool = False
    require_content_and_sender_risk: bool = True
    # How much sender risk unlocks quarantine: a missing PTR alone (1.0) must not hold an
    # authenticated newsletter that quotes a threat; "unauthenticated" (2.0) does.
    min_sender_risk: NonNegative = 2.0
    on_error: OnError = "accept"
    dry_run: bool = False
    # Mail submitted on this host (loopback client: cron, bounces, our own digest) or by an
    # SMTP-authenticated user is outbound, not something to judge as inbound intimidation.
    judge_local_submissions: bool = False
    # An authenticated newsletter or list mail with no sender risk is neither tagged nor
    # held for its content: news and advisories quote threats. The report header still
    # shows what was found.
    trust_authenticated_lists: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.tag < self.quarantine:
            raise ValueError("quarantine: must be greater than policy.tag")
        if self.reject_enabled and not self.quarantine < self.reject:
            raise ValueError("reject: must be greater than policy.quarantine")

    @property
    def reject_at(self) -> float | None:
        """The reject threshold, or None while rejecting is off."""
        return self.reject if self.reject_enabled else None

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(self.tag, self.quarantine, self.reject_at)

    @property
    def strongest_action(self) -> Action:
        return Action.REJECT if self.reject_enabled else Action.QUARANTINE


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str


def decide(policy: Policy, signals: tuple[Signal, ...]) -> Decision:
    """Pick the action for the summed score, then apply the guard and the error policy."""
    action, reason = _guarded(policy, signals, assume_unknowns=False)
    unknowns = [s for s in signals if s.kind is SignalKind.ERROR]
    if unknowns and policy.on_error == "tempfail":
        # Tempfail only when the missing answers could have changed the outcome.
        could_be, _ = _guarded(policy, signals, assume_unknowns=True)
        if could_be is not action:
            failed = ", ".join(sorted({s.check for s in unknowns}))
            return Decision(
                Action.TEMPFAIL,
                f"{failed} could not answer and might have raised {action.value} to "
                f"{could_be.value}; on_error=tempfail",
            )
    return Decision(action, reason)


def _guarded(
    policy: Policy, signals: tuple[Signal, ...], *, assume_unknowns: bool
) -> tuple[Action, str]:
    score = sum(s.score for s in signals)
    content = sum(s.score for s in signals if s.kind is SignalKind.CONTENT and s.score > 0)
    risk = sum(s.score for s in signals if s.kind is SignalKind.SENDER_RISK and s.score > 0)
    if assume_unknowns:
        for s in signals:
            if s.kind is SignalKind.ERROR and s.potential > 0:
                score += s.potential
                if s.stands_for is SignalKind.CONTENT:
                    content += s.potential
                elif s.stands_for is SignalKind.SENDER_RISK:
                    risk += s.potential
    action = _by_threshold(policy, score)
    if action is Action.ACCEPT:
        return action, f"score {score:.1f} below tag threshold"
    if policy.trust_authenticated_lists and risk <= 0 and any(s.name == AUTHENTICATED_LIST for s in signals):
        return Action.ACCEPT, f"score {score:.1f}, but an authenticated newsletter with no sender risk: not tagged"
    if not policy.require_content_and_sender_risk or action.rank < Action.QUARANTINE.rank:
        return action, f"score {score:.1f} reaches {action.value}"
    has_content = content > 0
    has_sender_risk = risk > 0 and risk >= policy.min_sender_risk
    if has_content and has_sender_risk:
        return action, f"intimidation content from a risky sender, score {score:.1f}"
    if not has_content:
        missing = "no intimidation content"
    elif risk > 0:
        missing = f"sender risk {risk:.1f} is below {policy.min_sender_risk:.1f}"
    else:
        missing = "no sender-risk signal"
    return Action.TAG, f"score {score:.1f} reaches {action.value} but {missing}: tag only"


def _by_threshold(policy: Policy, score: float) -> Action:
    if policy.reject_enabled and score >= policy.reject:
        return Action.REJECT
    if score >= policy.quarantine:
        return Action.QUARANTINE
    if score >= policy.tag:
        return Action.TAG
    return Action.ACCEPT
