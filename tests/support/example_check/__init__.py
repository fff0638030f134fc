"""An example check: words in the Subject an admin wants scored.

It is the "Writing a check" example of the README: a section, a check and one plugin;
registering the plugin makes ``[checks.subject_words]`` a valid config section and puts
the check in the pipeline.
"""

from __future__ import annotations

from spoofguard.checks import Facts, Findings, Stage
from spoofguard.checks.registry import CheckContext, CheckPlugin
from spoofguard.lookups import LookupSession
from spoofguard.message import Message
from spoofguard.sections import NonNegative, Section
from spoofguard.verdict import Signal, SignalKind


class SubjectWordsSection(Section, frozen=True):
    """``[checks.subject_words]``"""

    enabled: bool = True
    words: tuple[str, ...] = ("final warning",)
    weight: NonNegative = 1.0


class SubjectWordsCheck:
    name = "subject_words"
    kind = SignalKind.CONTENT
    requires: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()

    def __init__(self, section: SubjectWordsSection, context: CheckContext) -> None:
        self.section = section
        self.words = tuple(w.casefold() for w in section.words)

    @property
    def max_score(self) -> float:
        return self.section.weight

    def prefetch(self, stage: Stage, message: Message, lookups: LookupSession) -> None:
        return None  # no lookups

    def run(self, message: Message, lookups: LookupSession, facts: Facts) -> Findings:
        subject = (message.header("Subject") or "").casefold()
        found = [w for w in self.words if w in subject]
        if not found:
            return Findings()
        return Findings(signals=(Signal("subject_words.found", self.section.weight, f"Subject says {found[0]!r}", self.kind),))


PLUGIN = CheckPlugin("subject_words", SubjectWordsSection, SubjectWordsCheck,
                     signals={"found": "the Subject holds one of the configured words"})
