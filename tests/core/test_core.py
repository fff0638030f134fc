"""The core: checks in, one verdict out, whatever the checks do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from spoofguard.actions import ActionsSection, Refuse, plan
from spoofguard.checks import CheckOrderError, Facts, Findings, Stage
from spoofguard.core import Analyzer, failure_verdict
from spoofguard.lookups import LookupSession
from spoofguard.message import Message
from spoofguard.policy import Policy
from spoofguard.verdict import Action, Signal, SignalKind


class FixedCheck:
    """A check that always answers the same signals."""

    requires: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()

    def __init__(self, name: str, signals: list[Signal], kind: SignalKind = SignalKind.CONTENT,
                 max_score: float = 10.0) -> None:
        self.name = name
        self.kind = kind
        self._signals = signals
        self._max = max_score
        self.prefetched: list[Stage] = []
        self.runs = 0

    @property
    def max_score(self) -> float:
        return self._max

    def prefetch(self, stage: Stage, message: Message, lookups: LookupSession) -> None:
        self.prefetched.append(stage)

    def run(self, message: Message, lookups: LookupSession, facts: Facts) -> Findings:
        self.runs += 1
        return Findings(tuple(self._signals))


class RaisingCheck:
    """A check with a bug: it raises from both prefetch and run."""

    requires: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()

    def __init__(self, name: str = "dnsbl", kind: SignalKind = SignalKind.SENDER_RISK,
                 max_score: float = 6.0, exc: Exception | None = None) -> None:
        self.name = name
        self.kind = kind
        self._max = max_score
        self.exc = exc or RuntimeError("resolver exploded")

    @property
    def max_score(self) -> float:
        return self._max

    def prefetch(self, stage: Stage, message: Message, lookups: LookupSession) -> None:
        raise self.exc

    def run(self, message: Message, lookups: LookupSession, facts: Facts) -> Findings:
        raise self.exc


class BrokenReturnCheck(FixedCheck):
    """Returns something that is not Findings at all."""

    def run(self, message: Message, lookups: LookupSession, facts: Facts) -> Findings:
        return None  # type: ignore[return-value]


class GeneratorCheck(FixedCheck):
    """Yields one signal, then fails half-way."""

    def run(self, message: Message, lookups: LookupSession, facts: Facts) -> Iterator[Signal]:  # type: ignore[override]
        yield Signal("gen.partial", 3.0, "half an answer", SignalKind.CONTENT)
        raise ValueError("stopped half-way")


def session() -> LookupSession:
    return LookupSession(None, budget=5.0, default_timeout=2.0)


def message(body: bytes = b"hello\r\n") -> Message:
    return Message.from_bytes(b"Subject: hi\r\nFrom: a@example.org\r\n\r\n" + body)


def threat(score: float = 6.0) -> Signal:
    return Signal("content.threat_of_harm", score, "rule matched", SignalKind.CONTENT)


def listed(score: float = 3.0) -> Signal:
    return Signal("ip_reputation.local_deny", score, "listed", SignalKind.SENDER_RISK)


# -- failing checks ------------------------------------------------------------------------


def test_raising_check_becomes_an_error_signal_and_the_message_still_gets_a_verdict() -> None:
    analyzer = Analyzer([FixedCheck("content", [threat(5.0)]), RaisingCheck("dnsbl")], Policy())
    verdict = analyzer.analyze(message(), session())
    names = [s.name for s in verdict.signals]
    assert names == ["content.threat_of_harm", "dnsbl.error"]
    error = verdict.signals[1]
    assert error.kind is SignalKind.ERROR
    assert error.score == 0.0
    assert "RuntimeError: resolver exploded" in error.detail
    assert error.potential == 6.0
    assert error.stands_for is SignalKind.SENDER_RISK
    assert verdict.action is Action.TAG  # the 5.0 from content still counts
    assert verdict.score == 5.0
    assert verdict.degraded is True


def test_raising_check_with_on_error_tempfail_tempfails_when_it_could_matter() -> None:
    checks = [FixedCheck("content", [threat(6.0)]), RaisingCheck("dnsbl", max_score=6.0)]
    verdict = Analyzer(checks, Policy(on_error="tempfail")).analyze(message(), session())
    assert verdict.action is Action.TEMPFAIL
    assert "dnsbl" in verdict.reason


def test_raising_check_with_on_error_tempfail_does_not_tempfail_when_it_cannot_matter() -> None:
    checks = [FixedCheck("content", [threat(1.0)]), RaisingCheck("dnsbl", max_score=0.5)]
    verdict = Analyzer(checks, Policy(on_error="tempfail")).analyze(message(), session())
    assert verdict.action is Action.ACCEPT
    assert verdict.degraded is True


@pytest.mark.parametrize(
    ("check", "detail"),
    [
        (BrokenReturnCheck("broken", []), "TypeError"),
        (GeneratorCheck("gen", []), "TypeError: run() returned generator"),
        (RaisingCheck("keyerr", exc=KeyError("missing")), "KeyError"),
    ],
    ids=["returns-none", "generator-raises", "key-error"],
)
def test_misbehaving_checks_never_raise_into_the_core(check: object, detail: str) -> None:
    other = FixedCheck("content", [threat(2.0)])
    verdict = Analyzer([check, other], Policy()).analyze(message(), session())  # type: ignore[list-item]
    error = [s for s in verdict.signals if s.kind is SignalKind.ERROR]
    assert len(error) == 1
    assert error[0].name == f"{check.name}.error"  # type: ignore[attr-defined]
    assert detail in error[0].detail
    assert other.runs == 1  # the checks after it still ran
    assert verdict.score == 2.0  # a half-finished check adds nothing


def test_prefetch_failure_is_contained_and_other_checks_still_prefetch() -> None:
    good = FixedCheck("content", [])
    analyzer = Analyzer([RaisingCheck("dnsbl"), good], Policy())
    analyzer.prefetch(Stage.CONNECT, message(), session())
    analyzer.prefetch(Stage.MAIL, message(), session())
    assert good.prefetched == [Stage.CONNECT, Stage.MAIL]


# -- scoring -------------------------------------------------------------------------------


def test_signals_of_all_checks_are_summed() -> None:
    checks = [
        FixedCheck("content", [threat(3.0), Signal("content.deadline_pressure", 1.5, "d", SignalKind.CONTENT)]),
        FixedCheck("ip_reputation", [listed(2.5)], kind=SignalKind.SENDER_RISK),
        FixedCheck("allow", [Signal("allow.local_allow", -1.0, "trusted")], kind=SignalKind.INFO),
        FixedCheck("quiet", []),
    ]
    verdict = Analyzer(checks, Policy()).analyze(message(), session())
    assert verdict.score == pytest.approx(6.0)
    assert verdict.action is Action.TAG
    assert [s.name for s in verdict.signals] == [
        "content.threat_of_harm", "content.deadline_pressure", "ip_reputation.local_deny", "allow.local_allow",
    ]


def test_content_plus_sender_risk_quarantines_through_the_core() -> None:
    checks = [FixedCheck("content", [threat(6.0)]), FixedCheck("ip", [listed(3.0)], kind=SignalKind.SENDER_RISK)]
    verdict = Analyzer(checks, Policy()).analyze(message(), session())
    assert verdict.action is Action.QUARANTINE
    assert verdict.intended_action is None
    assert verdict.dry_run is False
    assert verdict.thresholds.quarantine == 8.0


def test_no_checks_accepts_with_score_zero() -> None:
    verdict = Analyzer([], Policy()).analyze(message(), session())
    assert verdict.action is Action.ACCEPT
    assert verdict.score == 0.0
    assert verdict.signals == ()


# -- dry run -------------------------------------------------------------------------------


def test_dry_run_accepts_and_records_the_intended_quarantine() -> None:
    checks = [FixedCheck("content", [threat(6.0)]), FixedCheck("ip", [listed(3.0)], kind=SignalKind.SENDER_RISK)]
    verdict = Analyzer(checks, Policy(dry_run=True)).analyze(message(), session())
    assert verdict.action is Action.ACCEPT
    assert verdict.intended_action is Action.QUARANTINE
    assert verdict.dry_run is True
    assert verdict.score == 9.0
    # what the user's mail gets: headers only, no subject change, no hold
    p = plan(verdict, message(), ActionsSection())
    assert p.quarantine is None
    assert all(c.name != "Subject" for c in p.header_changes)
    report = [c for c in p.header_changes if c.name == "X-Spoofguard-Report"]
    assert len(report) == 1 and "dry run: would quarantine" in report[0].value


def test_dry_run_turns_tempfail_into_accept() -> None:
    checks = [FixedCheck("content", [threat(6.0)]), RaisingCheck("dnsbl", max_score=6.0)]
    verdict = Analyzer(checks, Policy(dry_run=True, on_error="tempfail")).analyze(message(), session())
    assert verdict.action is Action.ACCEPT
    assert verdict.intended_action is Action.TEMPFAIL


def test_dry_run_benign_message_has_no_intended_action() -> None:
    verdict = Analyzer([FixedCheck("content", [])], Policy(dry_run=True)).analyze(message(), session())
    assert verdict.action is Action.ACCEPT
    assert verdict.intended_action is None


# -- failure_verdict ---------------------------------------------------------------------------


def test_failure_verdict_on_error_accept() -> None:
    verdict = failure_verdict(Policy(on_error="accept"), MemoryError("out of memory"))
    assert verdict.action is Action.ACCEPT
    assert verdict.signals[0].name == "spoofguard.error"
    assert verdict.signals[0].kind is SignalKind.ERROR
    assert "MemoryError: out of memory" in verdict.signals[0].detail
    assert "on_error=accept" in verdict.reason
    assert verdict.degraded is True


def test_failure_verdict_on_error_tempfail() -> None:
    verdict = failure_verdict(Policy(on_error="tempfail"), ValueError("bad state"))
    assert verdict.action is Action.TEMPFAIL
    assert "on_error=tempfail" in verdict.reason
    p = plan(verdict, message(), ActionsSection())
    assert isinstance(p, Refuse) and p.reply.code == "451"


def test_failure_verdict_in_dry_run_never_tempfails() -> None:
    verdict = failure_verdict(Policy(on_error="tempfail", dry_run=True), ValueError("bad state"))
    assert verdict.action is Action.ACCEPT
    assert verdict.intended_action is Action.TEMPFAIL


def test_local_and_authenticated_submissions_are_not_judged_unless_configured() -> None:
    from spoofguard import config as sg_config
    from spoofguard.assembly import build_analyzer
    from spoofguard.message import Envelope

    threat = (b"From: Ops <ops@example.org>\r\nSubject: Vote\r\n\r\n"
              b"We are in possession of all your information. Vote for him or we will come after you.\r\n")
    analyzer = build_analyzer(sg_config.load(), offline=True)
    for envelope in (Envelope(client_ip="127.0.0.1"), Envelope(client_ip="::1"),
                     Envelope(client_ip="203.0.113.9", auth_user="alice")):
        message = Message.from_bytes(threat, envelope)
        verdict = analyzer.analyze(message, LookupSession(None, 5.0, 2.0))
        assert verdict.action is Action.ACCEPT and [s.name for s in verdict.signals] == ["local.submission"]
        # said, not silent: the log line's reason and the report header the user sees
        assert verdict.reason == "local submission, not judged"
        report = [c for c in plan(verdict, message, ActionsSection()).header_changes
                  if getattr(c, "name", "") == "X-Spoofguard-Report"]
        assert report and "local.submission=+0.0" in report[0].value and "not judged" in report[0].value
    judged = Message.from_bytes(threat, Envelope(client_ip="203.0.113.9"))
    assert analyzer.analyze(judged, LookupSession(None, 5.0, 2.0)).action is Action.TAG
    settings = sg_config.load()
    strict = build_analyzer(msgspec.structs.replace(settings, policy=msgspec.structs.replace(settings.policy, judge_local_submissions=True)), offline=True)
    local = Message.from_bytes(threat, Envelope(client_ip="127.0.0.1"))
    assert strict.analyze(local, LookupSession(None, 5.0, 2.0)).action is Action.TAG


# -- checks that need each other ---------------------------------------------------------------


class Summary:
    """A fact one check finds and another reads."""

    def __init__(self, authenticated: bool) -> None:
        self.authenticated = authenticated


class Producer(FixedCheck):
    def __init__(self) -> None:
        super().__init__("producer", [])

    def run(self, message: Message, lookups: LookupSession, facts: Facts) -> Findings:
        return Findings(facts=(Summary(authenticated=False),))


class Consumer(FixedCheck):
    requires = ("producer",)

    def __init__(self) -> None:
        super().__init__("consumer", [])
        self.seen: list[Summary | None] = []

    def run(self, message: Message, lookups: LookupSession, facts: Facts) -> Findings:
        self.seen.append(facts.get(Summary))
        return Findings((Signal("consumer.unauthenticated", 1.0, "read the producer's fact", SignalKind.SENDER_RISK),))


def test_a_check_runs_after_the_check_it_requires_and_reads_its_typed_fact() -> None:
    consumer = Consumer()
    analyzer = Analyzer([consumer, Producer()], Policy())  # listed first, run second
    assert [c.name for c in analyzer.checks] == ["producer", "consumer"]
    verdict = analyzer.analyze(message(), session())
    assert len(consumer.seen) == 1 and isinstance(consumer.seen[0], Summary)
    assert verdict.score == 1.0


def test_a_missing_required_check_fails_at_start_up() -> None:
    with pytest.raises(CheckOrderError) as info:
        Analyzer([Consumer()], Policy())
    assert info.value.check == "consumer" and "producer" in info.value.problem


def test_checks_that_require_each_other_fail_at_start_up() -> None:
    first, second = Consumer(), Producer()
    second.requires = ("consumer",)  # type: ignore[misc]
    with pytest.raises(CheckOrderError, match="cycle"):
        Analyzer([first, second], Policy())


def test_a_check_cannot_change_the_message_it_judges() -> None:
    class Scribbler(FixedCheck):
        def run(self, message: Message, lookups: LookupSession, facts: Facts) -> Findings:
            message.add_header("X-Note", "checked")
            return Findings()

    msg = message()
    verdict = Analyzer([Scribbler("scribbler", [])], Policy()).analyze(msg, session())
    assert [s.name for s in verdict.signals] == ["scribbler.error"]
    assert "FrozenMessageError" in verdict.signals[0].detail
    assert [h.name for h in msg.headers] == ["Subject", "From"]


def test_impersonation_without_authentication_is_a_configuration_error(tmp_path: Path) -> None:
    from spoofguard import config as sg_config
    from spoofguard.assembly import build_analyzer
    from spoofguard.errors import ConfigError

    path = tmp_path / "s.toml"
    path.write_text("[checks.auth]\nenabled = false\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        build_analyzer(sg_config.load(path), offline=True)
    assert info.value.key == "checks.impersonation.enabled"
    assert "auth" in info.value.problem
