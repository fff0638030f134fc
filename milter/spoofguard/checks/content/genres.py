"""Which genre of intimidation mail a combination of moves makes.

The score comes from the moves; the genre only names what they add up to, for the report
a user reads and the counts an admin reads ("sextortion", "ddos_extortion"). It is read
from the moves found and the word classes in their evidence: a bomb in the building is a
bomb threat whatever else the mail says; a recording of the reader, or a claim of access
beside sexual words, is sextortion. The first description that fits wins.
"""

from __future__ import annotations

from collections.abc import Callable, Set

Test = Callable[[Set[str], Set[str]], bool]

GENRES: tuple[tuple[str, Test], ...] = (
    ("bomb_threat", lambda moves, words: "explosive" in moves),
    ("hitman", lambda moves, words: "contract" in moves),
    ("sextortion", lambda moves, words: "recording" in moves or ("sexual" in words
        and bool(moves & {"access", "surveillance", "disclosure", "possession"}))),
    ("ddos_extortion", lambda moves, words: "ddos" in words or ("attack" in moves and "network" in words)),
    ("voter_intimidation", lambda moves, words: "vote" in words),
    ("doxxing", lambda moves, words: "knowledge" in moves and bool(words & {"home", "family"})),
    ("reputation_blackmail", lambda moves, words: bool(words & {"infidelity", "review", "reputation"})),
    ("data_extortion", lambda moves, words: bool(moves & {"possession", "access"})
        and bool(moves & {"disclosure", "payment", "channel"})),
    ("extortion", lambda moves, words: bool(moves & {"payment", "channel"})),
    ("threat", lambda moves, words: True),
)
NAMES = tuple(name for name, _ in GENRES)


def genre(moves: Set[str], words: Set[str]) -> str:
    return next(name for name, fits in GENRES if fits(moves, words))
