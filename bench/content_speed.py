"""How fast the content check reads mail: each stage on its own, then the whole check.

Rows: the lexicon's one pass over folded text (every word class of every language),
that pass plus the word-class rules (moves), the reading of quotation and reporting, the
wallet finder, and the whole content check on message bytes (parse, extract, fold, scan,
judge). The corpus is generated (ordinary business mail, newsletters and a few per cent
threats built from the rules' own examples); ``--corpus DIR`` adds every file under DIR
as one more corpus. Prints one markdown table and writes nothing.

    .venv/bin/python bench/content_speed.py [--size-mb 24] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "milter")]

from milter_load import WORDS, sentence  # noqa: E402  (bench/milter_load.py: the same business prose)

from spoofguard import config  # noqa: E402
from spoofguard.checks import Facts  # noqa: E402
from spoofguard.checks.content.check import ContentCheck, ContentSection  # noqa: E402
from spoofguard.checks.content.crypto import find_addresses  # noqa: E402
from spoofguard.checks.content.moves import find_evidence, sentence_breaks  # noqa: E402
from spoofguard.checks.content.normalize import fold  # noqa: E402
from spoofguard.checks.content.quotation import Framing  # noqa: E402
from spoofguard.checks.content.rules import RuleSet, load_rule_files  # noqa: E402
from spoofguard.lookups import LookupSession  # noqa: E402
from spoofguard.message import Message  # noqa: E402
from spoofguard.verdict import SignalKind  # noqa: E402

NEWS_WORDS = (
    "breaking news weekly digest top stories market bitcoin prices rally sale offer discount "
    "free shipping subscribe unsubscribe view in browser read more event webinar register "
    "election vote polls candidate update community sports weather travel deals new arrivals"
).split()
ADDRESSES = (
    "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "888tNkZrPN6JsEgekjMnABU4TBzc2Dt29EPAvkRxbANsAnjyPbb3iQ1YBRk1UXcdRsiKc9dhwMVgN5S9cQUiyoogDavup3H",
)


@dataclass(frozen=True, slots=True)
class Mail:
    subject: str
    body: str  # raw: what find_addresses sees
    folded: str  # what the rules see
    raw: bytes | None = None  # the message as stored, for a corpus read from disk


def business(rng: random.Random) -> tuple[str, str]:
    paragraphs = [" ".join(sentence(rng, WORDS, 6, 18) for _ in range(rng.randint(2, 6))) for _ in range(rng.randint(2, 8))]
    return sentence(rng, WORDS, 3, 7), "Hello,\n\n" + "\n\n".join(paragraphs) + "\n\nBest regards,\nAlex"


def newsletter(rng: random.Random) -> tuple[str, str]:
    vocabulary = WORDS + NEWS_WORDS
    items = []
    for i in range(rng.randint(6, 20)):
        items.append(
            f"## {sentence(rng, NEWS_WORDS, 3, 6)}\n{' '.join(sentence(rng, vocabulary, 6, 18) for _ in range(3))}\n"
            f"Read more: https://news.example.com/{i}/{rng.getrandbits(48):x}?utm_source=digest"
        )
    footer = "You receive this because you subscribed. Unsubscribe: https://news.example.com/u/" + f"{rng.getrandbits(64):x}"
    return sentence(rng, NEWS_WORDS, 3, 6), "\n\n".join(items) + "\n\n" + footer


def threat(rng: random.Random, examples: list[str]) -> tuple[str, str]:
    _, filler = business(rng)
    picked = rng.sample(examples, k=min(len(examples), rng.randint(2, 5)))
    demand = f"Send 0.1 BTC to {rng.choice(ADDRESSES)}."
    return rng.choice(examples), filler[: rng.randint(200, 1500)] + "\n" + " ".join(picked) + "\n" + demand


def make_mail(subject: str, body: str) -> Mail:
    return Mail(subject, body, fold(subject + "\n" + body).folded)


def generate(size_mb: float, rules: RuleSet, seed: int = 1) -> list[Mail]:
    rng = random.Random(seed)
    examples = [e for rule in rules.rules for e in rule.match]
    mails: list[Mail] = []
    total = 0
    while total < size_mb * 1_000_000:
        roll = rng.random()
        if roll < 0.03:
            subject, body = threat(rng, examples)
        elif roll < 0.40:
            subject, body = newsletter(rng)
        else:
            subject, body = business(rng)
        mail = make_mail(subject, body)
        mails.append(mail)
        total += len(mail.folded.encode("utf-8"))
    return mails


def read_corpus(directory: Path) -> list[Mail]:
    mails = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        data = path.read_bytes()
        mail = make_mail("", data.decode("utf-8", "replace"))
        mails.append(Mail(mail.subject, mail.body, mail.folded, data))
    return mails


def throughput(mails: list[Mail], run: Callable[[Mail], int]) -> tuple[float, int]:
    """(MB/s of folded text, hits)."""
    size = sum(len(m.folded.encode("utf-8")) for m in mails)
    return _best(size, lambda: sum(run(mail) for mail in mails))


def _best(size: int, work: Callable[[], int]) -> tuple[float, int]:
    """Best of up to three passes; a slow scanner gets one (its rate is not noise-bound)."""
    best, spent, hits = float("inf"), 0.0, 0
    for _ in range(3):
        started = time.perf_counter()
        hits = work()
        elapsed = time.perf_counter() - started
        best, spent = min(best, elapsed), spent + elapsed
        if spent > 10:
            break
    return size / best / 1e6, hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=24.0, help="size of the generated corpus")
    parser.add_argument("--corpus", type=Path, help="also scan every file under this directory")
    args = parser.parse_args()

    rules = load_rule_files(config.load().rule_files())
    corpora = [(f"synthetic {args.size_mb:g} MB", generate(args.size_mb, rules))]
    if args.corpus:
        corpora.append((f"{args.corpus}", read_corpus(args.corpus)))

    lexicon, word_rules = rules.lexicon, rules.word_rules

    def words(m: Mail) -> int:
        return len(lexicon.scan(m.folded))

    def moves(m: Mail) -> int:
        return len(find_evidence(lexicon.scan(m.folded, sentence_breaks(m.folded)), word_rules))

    def framing(m: Mail) -> int:
        breaks = sentence_breaks(m.folded)
        hits = lexicon.scan(m.folded, breaks)
        return len(Framing(m.folded, hits, breaks).cues) + len(find_evidence(hits, word_rules))

    stages: list[tuple[str, Callable[[Mail], int]]] = [
        ("lexicon: one pass, every word class (words found)", words),
        ("lexicon + rules: moves (evidence found)", moves),
        ("lexicon + rules + quotation and framing", framing),
    ]
    entries = sum(len(c.entries) for c in lexicon.classes.values())
    print(f"{len(word_rules)} rules over {len(lexicon.classes)} word classes ({entries} entries)\n")
    print("| corpus | stage | MB/s | hits |")
    print("| --- | --- | ---: | ---: |")
    for name, mails in corpora:
        for label, run in stages:
            rate, hits = throughput(mails, run)
            print(f"| {name} | {label} | {rate:.1f} | {hits} |")
        rate, hits = _address_rate(mails)
        print(f"| {name} | find_addresses (raw text) | {rate:.1f} | {hits} |")
        rate, hits = _check_rate(mails, rules)
        print(f"| {name} | whole content check: parse, extract, fold, scan, judge (message bytes) | {rate:.1f} | {hits} |")


def _address_rate(mails: list[Mail]) -> tuple[float, int]:
    size = sum(len(m.body.encode("utf-8")) for m in mails)
    return _best(size, lambda: sum(len(find_addresses(m.body)) for m in mails))



def _check_rate(mails: list[Mail], rules: RuleSet) -> tuple[float, int]:
    """The content check as the milter runs it, on whole messages (MB/s of message bytes);
    hits counts messages it scores."""
    check = ContentCheck(rules, ContentSection())
    raw = [m.raw if m.raw is not None else
           f"From: Sender <s@example.org>\r\nSubject: {m.subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{m.body}".encode()
           for m in mails]
    session = LookupSession(None, 5.0, 2.0)

    def work() -> int:
        return sum(1 for data in raw
                   if any(s.kind is SignalKind.CONTENT and s.score > 0
                          for s in check.run(Message.from_bytes(data), session, Facts()).signals))

    return _best(sum(len(r) for r in raw), work)


if __name__ == "__main__":
    main()
