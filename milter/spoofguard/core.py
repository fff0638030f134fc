"""The pure core: ``judge(analyzer, message, lookups) -> Verdict``.

No pymilter here. The milter, ``spoofguard check``, ``scan`` and the tests all call this,
so what an admin sees on the command line is what the milter does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from .checks import Check, Facts, Findings, Stage, in_order
from .edits import HeaderEdit
from .lookups import LookupSession
from .message import Message
from .policy import Policy, decide
from .received import parse_ip
from .verdict import Action, Signal, SignalKind, Verdict

log = logging.getLogger(__name__)


class Analyzer:
    """Checks and policy built once per configuration load, shared by all connections."""

    def __init__(self, checks: Sequence[Check], policy: Policy) -> None:
        self.checks = in_order(checks)  # raises CheckOrderError on a missing requirement or a cycle
        self._learners = tuple(check for check in self.checks if hasattr(check, "learn"))
        self.policy = policy

    def prefetch(self, stage: Stage, message: Message, lookups: LookupSession) -> None:
        """Let every check start what it can at this stage; failures surface in ``run``."""
        for check in self.checks:
            try:
                check.prefetch(stage, message, lookups)
            except Exception:
                log.exception("check %s failed to start its lookups", check.name)

    def analyze(self, message: Message, lookups: LookupSession) -> Verdict:
        """The verdict on a whole message; from here on the message is read, never changed."""
        started = time.perf_counter()
        message.freeze()
        signals: list[Signal] = []
        edits: list[HeaderEdit] = []
        facts = Facts()
        local = None if self.policy.judge_local_submissions else local_submission(message)
        if local is not None:  # said, in the log line and the report header: nothing was checked
            signals.append(Signal(LOCAL_SUBMISSION, 0.0, f"{local}: not judged as inbound mail", SignalKind.NOTICE))
        timings: list[tuple[str, float]] = []
        for check in self.checks if local is None else ():
            begun = time.perf_counter()
            findings = self._run_check(check, message, lookups, facts)
            signals.extend(findings.signals)
            edits.extend(findings.edits)
            for fact in findings.facts:
                facts.add(fact)
            timings.append((check.name, (time.perf_counter() - begun) * 1000))
        decision = decide(self.policy, tuple(signals))
        action, intended = decision.action, None
        if self.policy.dry_run and action is not Action.ACCEPT:
            action, intended = Action.ACCEPT, decision.action
        return Verdict(
            action=action,
            score=sum(s.score for s in signals),
            signals=tuple(signals),
            thresholds=self.policy.thresholds,
            reason=NOT_JUDGED if local is not None else decision.reason,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            dry_run=self.policy.dry_run,
            intended_action=intended,
            edits=tuple(edits),
            check_ms=tuple(timings),
        )

    def learn(self, message: Message, verdict: Verdict) -> None:
        """After the MTA took the message: checks that remember (first contact) learn from
        mail delivered untagged, and from local users' own mail. Never raises."""
        outbound = local_submission(message) is not None
        if not outbound and (verdict.action is not Action.ACCEPT or verdict.intended_action is not None):
            return
        for check in self._learners:
            try:
                check.learn(message, outbound=outbound)
            except Exception:
                log.exception("check %s could not learn from this message", check.name)

    @staticmethod
    def _run_check(check: Check, message: Message, lookups: LookupSession, facts: Facts) -> Findings:
        try:
            findings = check.run(message, lookups, facts)
            if not isinstance(findings, Findings):
                raise TypeError(f"run() returned {type(findings).__name__}, not Findings")
            return findings
        except Exception as exc:
            log.exception("check %s failed", check.name)
            failure = exc
        try:
            potential = float(check.max_score)
        except Exception:
            potential = float("inf")  # unknown worth: assume it could matter
        return Findings((Signal.unknown(
            f"{check.name}.error",
            f"check failed: {type(failure).__name__}: {failure}",
            potential=potential,
            stands_for=check.kind,
        ),))


def judge(analyzer: Analyzer, message: Message, lookups: LookupSession) -> Verdict:
    """Every stage's lookups started (those already running are left alone), then the
    verdict: the one entry point of the milter at end of message, ``check`` and ``scan``."""
    for stage in Stage:  # in transaction order, so lookups overlap as in the milter
        analyzer.prefetch(stage, message, lookups)
    return analyzer.analyze(message, lookups)


LOCAL_SUBMISSION = "local.submission"
NOT_JUDGED = "local submission, not judged"


def local_submission(message: Message) -> str | None:
    """Why this message was submitted locally (loopback client or SMTP AUTH), or None."""
    if message.envelope.auth_user:
        return f"submitted by authenticated user {message.envelope.auth_user}"
    ip = parse_ip(message.envelope.client_ip)
    if ip is not None and ip.is_loopback:
        return f"submitted on this host (client {ip})"
    return None


def failure_verdict(policy: Policy, exc: BaseException, elapsed_ms: float = 0.0) -> Verdict:
    """The verdict when analysis itself could not run: the admin's ``on_error`` decides."""
    action = Action.TEMPFAIL if policy.on_error == "tempfail" else Action.ACCEPT
    intended = None
    if policy.dry_run and action is not Action.ACCEPT:
        action, intended = Action.ACCEPT, action
    signal = Signal("spoofguard.error", 0.0, f"analysis failed: {type(exc).__name__}: {exc}", SignalKind.ERROR)
    return Verdict(
        action=action,
        score=0.0,
        signals=(signal,),
        thresholds=policy.thresholds,
        reason=f"internal error; on_error={policy.on_error}",
        elapsed_ms=elapsed_ms,
        dry_run=policy.dry_run,
        intended_action=intended,
    )
