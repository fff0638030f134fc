"""Intimidation content: the moves a message makes, what they add up to, and whether it
makes them or reports them.

Intimidation mail of every genre is built from a few moves: a claim (of access, of
recordings, of the reader's data, of knowing where they live, of a contract on them), a
threat (of harm, of a bomb, of disclosure, of an attack on their business) and pressure
(a payment demand and its channel, a deadline, "don't tell the police"). Rules find moves
through word classes in any of the languages the lexicon covers; the score is the
strongest evidence of each move, plus a bonus for each move beyond the first, so one
move alone, however worded, stays under the tag threshold, and pressure without a claim
or a threat (an invoice, a sale) is no intimidation at all.

What the moves say is then weighed against how the message says it: evidence inside
quotation marks or in a sentence that reports it ("the scammers claim…") counts for
``reported_factor`` of its weight, and a message framed as a report (reporting, naming
the scam, advice) with no demand of its own on the reader for ``frame_factor``: news and
advisories quoting a threat stay below the tag threshold, the threat itself does not.

The text is what a reader sees (Subject, display names, every text part, HTML rendered,
nested messages, attachment names), folded back from evasions (confusable letters,
spaced-out words, leetspeak, zero-width tricks); the disguise itself counts alongside a
move. A checksum-valid cryptocurrency address is evidence of a payment channel.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from ...errors import ConfigError
from ...lookups import LookupSession
from ...message import Message
from ...sections import Fraction, NonNegative, Positive, Section, at_least, between
from ...verdict import UNSCANNED_TEXT, Signal, SignalKind
from .. import Facts, Findings, Stage
from ..registry import CheckContext, CheckPlugin
from .crypto import CryptoAddress, find_addresses
from .extract import ExtractedText, TextLimits, extract
from .genres import genre
from .lexicon import WordHit
from .matcher import RuleMatcher
from .moves import PART_BREAK, Evidence, find_evidence, sentence_breaks
from .normalize import fold
from .quotation import Framing, mark_block_quotes
from .rules import CLAIMS, THREATS, RuleSet, load_rule_files

SNIPPET = 80
CHANNEL = "channel"
DEADLINE = "deadline"
AMOUNT = "amount"  # the lexicon's built-in class of sums of money
# A demand for untraceable payment under pressure, with no claim or threat found beside
# it: the rules missed how the threat was put, the demand shows there was one.
RANSOM = "ransom"
RANSOM_PRESSURE = frozenset({"silence", "condition", "futility", DEADLINE})
# Pressure that, said outright to the reader, makes a message a demand and not a report.
ADDRESSED = frozenset({"payment", "deadline", "silence", "action", "condition"})
CORE = frozenset(CLAIMS + THREATS)
THREAT_MOVES = frozenset(THREATS)
CLAIM_MOVES = frozenset(CLAIMS)
DEMANDS = frozenset({"payment", "silence", "condition", "action"})  # pressure that asks something of the reader
# Disguises normalising already undoes (the plain text reads the same): seen in the fold.
_INVISIBLE_EVASIONS = frozenset({"zero-width characters", "bidi controls"})


class ContentSection(Section, frozen=True):
    """``[checks.content]``"""

    enabled: bool = True
    co_occurrence_bonus: NonNegative = 0.75  # added per move beyond the first
    threat_bonus: NonNegative = 1.5  # a threat beside a claim or a demand: the shape of intimidation
    reported_factor: Fraction = 0.25  # what quoted or reported evidence keeps of its weight
    frame_factor: Fraction = 0.5  # what a message framed as a report keeps of its content score
    frame_cues: Annotated[int, between(1, 3)] = 2  # how many kinds of framing make a report
    evasion_weight: NonNegative = 1.0  # evasion tricks alongside intimidation moves
    crypto_address_weight: NonNegative = 2.0  # a checksum-valid wallet address: a payment channel
    ransom_weight: NonNegative = 1.5  # payment in an untraceable channel, under pressure, with no claim or threat found
    engine: Literal["auto", "python", "hyperscan"] = "auto"  # the pattern-rule matcher
    max_text: Annotated[int, at_least(1000, " characters")] = 1_000_000
    # Text the scan left unread (see ``extract``): for an unauthenticated sender it tags.
    unscanned_text_weight: NonNegative = 2.0
    read_pdf: bool = True
    pdf_timeout: Positive = 5.0

    @property
    def text_limits(self) -> TextLimits:
        return TextLimits(self.max_text, self.read_pdf, pdf_timeout=self.pdf_timeout)


@dataclass(frozen=True, slots=True)
class _Move:
    """The strongest evidence of one move, and whether any of it was said outright."""

    name: str
    weight: float
    words: str  # the rule and the words that fired it, for the report
    classes: frozenset[str]  # word classes in the evidence, for naming the genre
    outright: bool  # some evidence of this move is neither quoted nor reported
    evaded: bool = False  # its evidence reads so only once disguised letters are read back
    addressed: bool = False  # some outright evidence of it speaks to the reader


class ContentCheck:
    name = "content"
    kind = SignalKind.CONTENT
    requires: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()

    def __init__(self, rules: RuleSet, settings: ContentSection) -> None:
        self.rules = rules
        self.settings = settings
        self.word_rules = rules.word_rules
        self.matcher = RuleMatcher(rules.pattern_rules, engine=settings.engine)
        best: dict[str, float] = {}
        for rule in rules.rules:
            best[rule.move] = max(best.get(rule.move, 0.0), rule.weight)
        best[CHANNEL] = max(best.get(CHANNEL, 0.0), settings.crypto_address_weight)
        self._max = (sum(best.values()) + settings.co_occurrence_bonus * max(0, len(best) - 1) + settings.threat_bonus
                     + settings.evasion_weight + settings.unscanned_text_weight)

    @property
    def max_score(self) -> float:
        return self._max

    def prefetch(self, stage: Stage, message: Message, lookups: LookupSession) -> None:
        return None  # content needs no lookups

    def run(self, message: Message, lookups: LookupSession, facts: Facts) -> Findings:
        return Findings(tuple(self._findings(message, lookups)))

    def _findings(self, message: Message, lookups: LookupSession) -> list[Signal]:
        text = extract(message, self.settings.text_limits)
        body = mark_block_quotes(text.body)
        reading = fold(PART_BREAK.join([text.subject, text.names, body, *text.attachment_names]))
        subject = fold(text.subject).folded if self.matcher.rules else ""  # for subject-scope pattern rules
        signals = self.judge(reading.folded, subject, _wallets_in(text), reading.evasions, reading.plain, reading.rejoined)
        signals.extend(_extraction_notes(text))
        if text.unread:
            signals.append(Signal(UNSCANNED_TEXT, self.settings.unscanned_text_weight,
                                  "text left unread: " + "; ".join(text.unread)[:240]))
        return signals

    def judge(self, folded: str, subject: str, wallets: list[CryptoAddress] | None = None,
              evasions: Sequence[str] = (), plain: str | None = None,
              rejoined: Sequence[tuple[int, int]] = ()) -> list[Signal]:
        """Signals for a text already folded (``fold(...).folded``): the moves, their sum,
        and the discount for a report. ``plain`` is the text before evasions were folded
        back: evidence not found in it was disguised. Evidence in ``rejoined`` spans (lines
        joined across a broken word, out of their place) is taken as reported whenever the
        message frames anything as a report."""
        s = self.settings
        breaks = sentence_breaks(folded)
        hits = self.rules.lexicon.scan(folded, breaks)
        evidence = find_evidence(hits, self.word_rules)
        evidence += self._pattern_evidence(folded, subject)
        if not evidence and not (wallets and s.crypto_address_weight):
            return []  # most mail: nothing to weigh, and no framing to read
        found = {e.rule.move for e in evidence}
        if not found & CORE and not wallets and not (s.ransom_weight and {CHANNEL, "payment"} <= found):
            return _idle(evidence, folded)  # pressure only (an invoice, a sale): no framing to read
        framing = Framing(folded, hits, breaks)
        moves = self._moves(evidence, framing, folded, plain if plain is not None and evasions else folded, rejoined)
        if wallets and s.crypto_address_weight:
            # A working wallet address is someone asking to be paid: news and advisories
            # print none, so it is never taken as reported.
            _keep(moves, _Move(CHANNEL, s.crypto_address_weight, _describe_wallets(wallets), frozenset(),
                               outright=True, addressed=True))
        if not moves:
            return []
        if not moves.keys() & CORE and s.ransom_weight:
            ransom = _ransom(evidence, hits, framing, breaks, bool(wallets))
            if ransom:
                moves[RANSOM] = _Move(RANSOM, s.ransom_weight, ransom, frozenset(), outright=True, addressed=True)
        if not moves.keys() & (CORE | {RANSOM}):
            return [_no_intimidation(m.name, m.words) for m in moves.values()]
        idle: list[Signal] = []
        if DEADLINE in moves and not moves.keys() & (DEMANDS | THREAT_MOVES):
            # A date with nothing demanded or threatened by it is a date ("see you Sunday").
            idle.append(Signal(f"content.{DEADLINE}", 0.0, f"{moves.pop(DEADLINE).words} (nothing demanded by it)"))
        signals = idle + [Signal(f"content.{m.name}", m.weight, m.words + ("" if m.outright else " (quoted or reported)"),
                                 SignalKind.CONTENT) for m in moves.values()]
        full = sum(m.weight for m in moves.values())
        if len(moves) > 1:
            bonus = s.co_occurrence_bonus * (len(moves) - 1)
            detail = f"{len(moves)} moves together: {', '.join(sorted(moves))}"
            threats = moves.keys() & THREAT_MOVES
            if threats and moves.keys() & (CLAIM_MOVES | DEMANDS):
                bonus += s.threat_bonus
                detail += f"; a threat ({', '.join(sorted(threats))}) with a claim or a demand"
            full += bonus
            words = frozenset().union(*(m.classes for m in moves.values()))
            signals.append(Signal(f"content.{genre(moves.keys(), words)}", bonus, detail, SignalKind.CONTENT))
        # A demand on the reader outside any quotation makes a threat of the message only
        # beside a claim or threat said outright: advisories tell readers "they will ask you
        # to pay within 48 hours" too.
        outright_core = any(m.outright for m in moves.values() if m.name in CORE or m.name == RANSOM)
        addressed = outright_core and any(m.addressed for m in moves.values())
        share = self._share_kept(moves)
        # A report: framed as one, with no demand of its own on the reader; or one cue
        # of framing where no claim or threat at all is made outright.
        framed = not addressed and (len(framing.cues) >= s.frame_cues or (framing.cues and not outright_core))
        kept = share * (s.frame_factor if framed else 1.0)
        if kept < 1.0:
            why = []
            if share < 1.0:
                reported = sorted(m.name for m in moves.values() if not m.outright)
                why.append(f"{', '.join(reported)} only quoted or reported")
            if framed:
                why.append(f"the message reads as a report: {framing.describe()}")
            signals.append(Signal("content.reported", round(full * (kept - 1.0), 2), "; ".join(why), SignalKind.INFO))
        disguised = sorted(m.name for m in moves.values() if m.evaded)
        hidden = [e for e in evasions if e in _INVISIBLE_EVASIONS]  # read the same before folding
        if (disguised or hidden) and evasions:
            what = ", ".join(disguised) if disguised else "the text"
            signals.append(Signal("content.evasion", s.evasion_weight,
                                  f"{what} disguised with {', '.join(evasions)}", SignalKind.CONTENT))
        return signals

    def _moves(self, evidence: list[Evidence], framing: Framing, text: str, plain: str,
               rejoined: Sequence[tuple[int, int]]) -> dict[str, _Move]:
        moves: dict[str, _Move] = {}
        for found in _one_move_a_phrase(evidence):
            moved = any(low <= found.start < high for low, high in rejoined)
            outright = not (framing.cues if moved else framing.reported(found.start, found.end))
            evaded = plain is not text and text[found.start:found.end] not in plain
            addressed = outright and found.to_reader and found.rule.move in ADDRESSED
            _keep(moves, _Move(found.rule.move, found.rule.weight, _describe(found, text), found.classes, outright,
                               evaded, addressed))
        return moves

    def _pattern_evidence(self, folded: str, subject: str) -> list[Evidence]:
        if not self.matcher.rules:
            return []
        # A subject-scope hit's position is in the Subject, which is where the reading starts.
        return [Evidence(hit.rule, hit.start, hit.start + len(hit.matched), frozenset())
                for hit in self.matcher.match({"text": folded, "subject": subject})]

    def _share_kept(self, moves: dict[str, _Move]) -> float:
        total = sum(m.weight for m in moves.values())
        kept = sum(m.weight * (1.0 if m.outright else self.settings.reported_factor) for m in moves.values())
        return kept / total if total else 1.0


def _no_intimidation(move: str, words: str) -> Signal:
    return Signal(f"content.{move}", 0.0, f"{words} (no claim or threat with it: not intimidation)")


def _idle(evidence: Sequence[Evidence], text: str) -> list[Signal]:
    """Pressure alone, shown and weighing nothing: the strongest evidence of each move."""
    best: dict[str, Evidence] = {}
    for found in evidence:
        if found.rule.move not in best or found.rule.weight > best[found.rule.move].rule.weight:
            best[found.rule.move] = found
    return [_no_intimidation(move, _describe(found, text)) for move, found in best.items()]


def _ransom(evidence: Sequence[Evidence], hits: Sequence[WordHit], framing: Framing, breaks: Sequence[int],
            wallet: bool) -> str:
    """Why the message demands a ransom, or "": a payment outright, its untraceable
    channel in the same or the next sentence as the payment or a sum ("$2000. Bitcoin
    only."), or a wallet address anywhere, and pressure outright (a deadline, a
    condition, "don't tell the police")."""
    said = [e for e in evidence if not framing.reported(e.start, e.end)]
    pressure = sorted({e.rule.move for e in said if e.rule.move in RANSOM_PRESSURE})
    payments = [bisect.bisect_right(breaks, e.start) for e in said if e.rule.move == "payment"]
    if payments:
        payments += [bisect.bisect_right(breaks, h.start) for h in hits
                     if AMOUNT in h.classes and not framing.reported(h.start, h.end)]
    channels = [bisect.bisect_right(breaks, e.start) for e in said if e.rule.move == CHANNEL]
    if not pressure or not payments or not (wallet or any(abs(p - c) <= 1 for p in payments for c in channels)):
        return ""
    return f"payment in {'a wallet' if wallet else 'an untraceable channel'} demanded with {', '.join(pressure)}"


def _one_move_a_phrase(evidence: list[Evidence]) -> list[Evidence]:
    """The same words are evidence of one move, the strongest: "we cracked the password
    hash" is an access claim, not an access claim and a data theft besides."""
    kept: list[Evidence] = []
    for found in sorted(evidence, key=lambda e: -e.rule.weight):
        if not any(other.rule.move != found.rule.move and _same_words(found, other) for other in kept):
            kept.append(found)
    return kept


def _same_words(a: Evidence, b: Evidence) -> bool:
    overlap = min(a.end, b.end) - max(a.start, b.start)
    return overlap > 0 and overlap * 5 >= (max(a.end, b.end) - min(a.start, b.start)) * 4


def _keep(moves: dict[str, _Move], candidate: _Move) -> None:
    """Per move the strongest evidence; said outright if any of its evidence was."""
    current = moves.get(candidate.name)
    if current is None:
        moves[candidate.name] = candidate
        return
    outright = current.outright or candidate.outright
    best = candidate if (candidate.weight, candidate.outright) > (current.weight, current.outright) else current
    moves[candidate.name] = _Move(best.name, best.weight, best.words, candidate.classes | current.classes, outright,
                                  current.evaded and candidate.evaded, current.addressed or candidate.addressed)


def _describe(found: Evidence, text: str) -> str:
    words = " ".join(text[found.start:found.end].split())
    if len(words) > SNIPPET:
        words = words[: SNIPPET - 1] + "…"
    return f"{found.rule.id} {words!r}"


def _wallets_in(text: ExtractedText) -> list[CryptoAddress]:
    return find_addresses("\n".join([text.subject, text.body]))


def _describe_wallets(addresses: list[CryptoAddress]) -> str:
    shown = ", ".join(f"{a.coin} {a.address[:12]}…" for a in addresses[:3])
    return f"checksum-valid cryptocurrency address: {shown}"


def _position(text: str, address: CryptoAddress) -> tuple[int, int]:
    at = text.find(address.address.casefold())
    return (at, at + len(address.address)) if at != -1 else (0, 0)


def _extraction_notes(text: ExtractedText) -> list[Signal]:
    """How the text was read, for an admin wondering why a rule did or did not match."""
    notes = list(text.notes)
    return [Signal("content.extraction", 0.0, "; ".join(notes)[:300])] if notes else []


_last_built: tuple[tuple[bytes, tuple[tuple[str, int, int], ...]], ContentCheck] | None = None


def build(section: ContentSection, context: CheckContext) -> ContentCheck:
    """The check for these rule files and settings. The last one built is kept and handed
    out again while neither changed: its tables (lexicon, trie, Hyperscan databases: about
    28 MB and 1.5 s to make) are only read, so a reload that leaves the rules alone costs
    nothing, and workers forked after the supervisor built it share its pages."""
    global _last_built
    paths = context.settings.rule_files()
    key = (msgspec.json.encode(section), _files_signature(paths))
    if _last_built is not None and _last_built[0] == key:
        return _last_built[1]
    rules = load_rule_files(paths)
    try:
        check = ContentCheck(rules, section)
    except RuntimeError as exc:  # engine = "hyperscan" where it is not installed
        raise ConfigError(context.settings.path, "checks.content.engine", str(exc)) from None
    _last_built = (key, check)
    return check


def _files_signature(paths: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    """Name, size and modification time of every rule file (-1 for one that cannot be
    read: loading it reports why)."""
    found = []
    for path in paths:
        try:
            st = path.stat()
            found.append((str(path), st.st_size, st.st_mtime_ns))
        except OSError:
            found.append((str(path), -1, -1))
    return tuple(found)


SIGNALS = {
    "<move>": "an intimidation move and the words that made it: claims (access, recording, possession, "
              "knowledge, surveillance, contract), threats (harm, explosive, disclosure, attack), pressure "
              "(payment, channel, deadline, silence, condition, action, futility)",
    "<genre>": "moves found together, named by genre (sextortion, bomb_threat, hitman, ddos_extortion, "
               "data_extortion, reputation_blackmail, doxxing, voter_intimidation, extortion, threat, ransom)",
    "reported": "the evidence is quoted or reported (news, advisories): its weight reduced",
    "evasion": "tricks that hide words from filters beside intimidation moves",
    "extraction": "what could not be read (parts, charsets, PDFs): said, weight 0",
}

PLUGIN = CheckPlugin("content", ContentSection, build, SIGNALS)
