"""Score to action: thresholds, the content-and-sender-risk guard, and on_error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spoofguard.policy import Policy, decide
from spoofguard.verdict import Action, Signal, SignalKind


def content(score: float, name: str = "content.harm") -> Signal:
    return Signal(name, score, "matched a threat", SignalKind.CONTENT)


def risk(score: float, name: str = "ip_reputation.local_deny") -> Signal:
    return Signal(name, score, "listed", SignalKind.SENDER_RISK)


def info(score: float, name: str = "other.info") -> Signal:
    return Signal(name, score, "context", SignalKind.INFO)


def unknown(potential: float, stands_for: SignalKind = SignalKind.SENDER_RISK,
            name: str = "ip_reputation.fcrdns_unknown") -> Signal:
    return Signal.unknown(name, "DNS timed out", potential, stands_for)


# -- thresholds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_score", "risk_score", "expected"),
    [
        (0.0, 0.0, Action.ACCEPT),
        (2.0, 1.99, Action.ACCEPT),
        (3.0, 1.0, Action.TAG),  # exactly at tag
        (5.0, 2.9, Action.TAG),
        (5.0, 3.0, Action.QUARANTINE),  # exactly at quarantine
        (10.0, 10.0, Action.QUARANTINE),  # reject disabled: quarantine is the ceiling
    ],
)
def test_thresholds_without_reject(content_score: float, risk_score: float, expected: Action) -> None:
    decision = decide(Policy(), (content(content_score), risk(risk_score)))
    assert decision.action is expected


@pytest.mark.parametrize(
    ("total", "expected"),
    [(3.9, Action.ACCEPT), (4.0, Action.TAG), (8.0, Action.QUARANTINE), (14.9, Action.QUARANTINE),
     (15.0, Action.REJECT), (40.0, Action.REJECT)],
)
def test_thresholds_with_reject_enabled(total: float, expected: Action) -> None:
    policy = Policy(tag=4, quarantine=8, reject=15, reject_enabled=True)
    decision = decide(policy, (content(total - 2.0), risk(2.0)))
    assert decision.action is expected


def test_weak_sender_risk_alone_does_not_unlock_quarantine() -> None:
    decision = decide(Policy(), (content(12.0), risk(1.0)))
    assert decision.action is Action.TAG
    assert "sender risk 1.0 is below 2.0" in decision.reason
    assert decide(Policy(min_sender_risk=1.0), (content(12.0), risk(1.0))).action is Action.QUARANTINE
    assert decide(Policy(), (content(12.0), risk(1.0), risk(1.0, "impersonation.envelope_mismatch"))).action is Action.QUARANTINE


def test_reject_needs_reject_enabled() -> None:
    signals = (content(20.0), risk(20.0))
    assert decide(Policy(reject_enabled=False), signals).action is Action.QUARANTINE
    assert decide(Policy(reject_enabled=True, reject=15.0), signals).action is Action.REJECT


def test_negative_signals_lower_the_score() -> None:
    # an allow-listed sender with a threat quote: 5 + 4 - 5 = 4 -> tag, not quarantine
    decision = decide(Policy(), (content(5.0), risk(4.0), risk(-5.0, "ip_reputation.local_allow")))
    assert decision.action is Action.TAG


def test_accept_reason_names_the_score() -> None:
    decision = decide(Policy(), (content(1.5),))
    assert decision.action is Action.ACCEPT
    assert "1.5" in decision.reason
    assert "below tag" in decision.reason


# -- the guard -------------------------------------------------------------------------------


def test_content_alone_at_quarantine_score_is_only_tagged() -> None:
    decision = decide(Policy(), (content(6.0), content(4.0, "content.coercion_demand")))
    assert decision.action is Action.TAG
    assert "tag only" in decision.reason
    assert "no sender-risk signal" in decision.reason
    assert "quarantine" in decision.reason  # says what it would have been


def test_content_alone_at_reject_score_is_only_tagged() -> None:
    decision = decide(Policy(reject_enabled=True, reject=15.0), (content(30.0),))
    assert decision.action is Action.TAG
    assert "reaches reject" in decision.reason
    assert "tag only" in decision.reason


def test_sender_risk_alone_at_quarantine_score_is_only_tagged() -> None:
    decision = decide(Policy(), (risk(6.0), risk(3.0, "ip_reputation.no_ptr")))
    assert decision.action is Action.TAG
    assert "no intimidation content" in decision.reason
    assert "tag only" in decision.reason


def test_info_signals_alone_cannot_quarantine() -> None:
    assert decide(Policy(), (info(20.0),)).action is Action.TAG


def test_content_and_sender_risk_together_quarantine() -> None:
    decision = decide(Policy(), (content(6.0), risk(2.0)))
    assert decision.action is Action.QUARANTINE
    assert "risky sender" in decision.reason


def test_a_zero_or_negative_sender_risk_signal_does_not_satisfy_the_guard() -> None:
    signals = (content(9.0), risk(0.0, "ip_reputation.fcrdns_pass"), risk(-1.0, "ip_reputation.x"))
    assert decide(Policy(), signals).action is Action.TAG


def test_guard_off_quarantines_on_score_alone() -> None:
    policy = Policy(require_content_and_sender_risk=False)
    assert decide(policy, (content(9.0),)).action is Action.QUARANTINE
    assert decide(policy, (risk(9.0),)).action is Action.QUARANTINE
    assert decide(Policy(reject_enabled=True, reject=15.0, require_content_and_sender_risk=False), (content(16.0),)).action is Action.REJECT


def test_guard_does_not_touch_tag() -> None:
    assert decide(Policy(), (content(4.0),)).action is Action.TAG
    assert decide(Policy(), (risk(4.0),)).action is Action.TAG


# -- on_error --------------------------------------------------------------------------------


def test_tempfail_when_unknown_could_lift_tag_to_quarantine() -> None:
    policy = Policy(on_error="tempfail")
    signals = (content(6.0), risk(1.0), unknown(2.0))
    decision = decide(policy, signals)
    assert decision.action is Action.TEMPFAIL
    assert "ip_reputation" in decision.reason
    assert "tag" in decision.reason and "quarantine" in decision.reason


def test_tempfail_when_unknown_could_supply_the_missing_guard_kind() -> None:
    # content alone at 9 is tagged; the unanswered sender-risk check could make it quarantine
    decision = decide(Policy(on_error="tempfail"), (content(9.0), unknown(2.0)))
    assert decision.action is Action.TEMPFAIL


def test_tempfail_when_unknown_could_lift_accept_to_tag() -> None:
    decision = decide(Policy(on_error="tempfail"), (unknown(6.0),))
    assert decision.action is Action.TEMPFAIL


def test_no_tempfail_when_potential_is_too_small_to_matter() -> None:
    decision = decide(Policy(on_error="tempfail"), (content(5.0), risk(1.0), unknown(0.5)))
    assert decision.action is Action.TAG


def test_no_tempfail_when_unknown_has_no_potential() -> None:
    decision = decide(Policy(on_error="tempfail"), (content(1.0), unknown(0.0)))
    assert decision.action is Action.ACCEPT


def test_no_tempfail_when_unknown_kind_cannot_satisfy_the_guard() -> None:
    # content alone at 9: another content answer cannot lift past the guard's tag
    decision = decide(Policy(on_error="tempfail"), (content(9.0), unknown(5.0, SignalKind.CONTENT, "content.error")))
    assert decision.action is Action.TAG


def test_no_tempfail_when_action_is_already_quarantine_and_reject_is_off() -> None:
    decision = decide(Policy(on_error="tempfail"), (content(6.0), risk(3.0), unknown(50.0)))
    assert decision.action is Action.QUARANTINE


def test_no_tempfail_when_action_is_already_reject() -> None:
    policy = Policy(reject_enabled=True, reject=15.0, on_error="tempfail")
    decision = decide(policy, (content(10.0), risk(6.0), unknown(50.0)))
    assert decision.action is Action.REJECT


def test_tempfail_when_unknown_could_lift_quarantine_to_reject() -> None:
    policy = Policy(reject_enabled=True, reject=15.0, on_error="tempfail")
    decision = decide(policy, (content(8.0), risk(2.0), unknown(6.0)))
    assert decision.action is Action.TEMPFAIL


@pytest.mark.parametrize(
    "signals",
    [
        (unknown(6.0),),
        (content(6.0), risk(1.0), unknown(2.0)),
        (content(9.0), unknown(2.0)),
        (content(8.0), risk(2.0), unknown(6.0)),
    ],
)
def test_on_error_accept_never_tempfails(signals: tuple[Signal, ...]) -> None:
    tempfail_decision = decide(Policy(reject_enabled=True, reject=15.0, on_error="tempfail"), signals)
    assert tempfail_decision.action is Action.TEMPFAIL  # the same input does tempfail there
    accept_decision = decide(Policy(reject_enabled=True, reject=15.0, on_error="accept"), signals)
    assert accept_decision.action is not Action.TEMPFAIL


# -- properties ------------------------------------------------------------------------------

_kinds = st.sampled_from(list(SignalKind))
_signal = st.builds(
    lambda kind, score, potential, stands_for: (
        Signal.unknown("chk.error", "unknown", potential, stands_for)
        if kind is SignalKind.ERROR
        else Signal(f"chk.{kind.value}", score, "d", kind)
    ),
    _kinds,
    st.floats(min_value=-10, max_value=20, allow_nan=False),
    st.floats(min_value=0, max_value=20, allow_nan=False),
    st.sampled_from([SignalKind.CONTENT, SignalKind.SENDER_RISK, SignalKind.INFO, None]),
)
_policy = st.builds(
    Policy,
    tag=st.just(4.0),
    quarantine=st.just(8.0),
    reject=st.sampled_from([None, 15.0]),
    require_content_and_sender_risk=st.booleans(),
    on_error=st.sampled_from(["accept", "tempfail"]),
)


@settings(max_examples=400, deadline=None)
@given(policy=_policy, signals=st.lists(_signal, max_size=6).map(tuple))
def test_decision_properties(policy: Policy, signals: tuple[Signal, ...]) -> None:
    action = decide(policy, signals).action
    if action is Action.TEMPFAIL:
        assert policy.on_error == "tempfail"
        assert any(s.kind is SignalKind.ERROR and s.potential > 0 for s in signals)
    if action is Action.REJECT:
        assert policy.reject is not None
    if policy.require_content_and_sender_risk and action in (Action.QUARANTINE, Action.REJECT):
        positive = {s.kind for s in signals if s.score > 0}
        assert SignalKind.CONTENT in positive and SignalKind.SENDER_RISK in positive
    # on_error=accept gives exactly the action the known signals call for
    if policy.on_error == "accept":
        known = tuple(s for s in signals if s.kind is not SignalKind.ERROR)
        assert action is decide(policy, known).action


# -- authenticated newsletters ---------------------------------------------------------------

LISTED = Signal("auth.authenticated_list", 0.0, "news.example authenticated, sent as a newsletter")


def test_an_authenticated_newsletter_quoting_a_threat_is_neither_tagged_nor_held() -> None:
    decision = decide(Policy(), (content(9.0), LISTED))
    assert decision.action is Action.ACCEPT
    assert "authenticated newsletter" in decision.reason


def test_any_sender_risk_ends_the_newsletter_exception() -> None:
    young = risk(3.0, "domain_age.young")  # a domain registered for the purpose
    assert decide(Policy(), (content(9.0), young, LISTED)).action is Action.QUARANTINE
    assert decide(Policy(), (content(5.0), risk(0.5, "ip_reputation.ptr_mismatch"), LISTED)).action is Action.TAG


def test_the_newsletter_exception_can_be_turned_off() -> None:
    assert decide(Policy(trust_authenticated_lists=False), (content(5.0), LISTED)).action is Action.TAG
