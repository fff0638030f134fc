"""Measure the detector on a labelled corpus: ``make eval``.

Runs ``spoofguard scan --offline --json`` over each class directory of the corpus
(``intimidation``, ``spam``, ``ham``) and over this repository's own set of news,
advisories and IT-desk warnings that quote threats (``tests/data/quoting_ham.toml`` and the
quoting part of ``tests/data/ham_more.toml``, written as .eml files first), and writes
``bench/results/eval.md``:

* per class: messages with any intimidation category, tagged or more, held;
* the targets, met or not;
* per genre of intimidation (``LABELS.tsv``, column 4);
* a threshold sweep: what other tag and quarantine thresholds would catch and cost;
* every miss, every false positive with the signals behind it.

Offline there is no DNS: sender risk comes from headers alone, so "held" counts only what
header signals (forged results, impersonation tells) unlock. The corpus is for measuring
only: rules describe patterns of the genre, never individual messages.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ("intimidation", "spam", "ham")
DATA = ROOT / "tests" / "data"
TAGGED = ("tag", "quarantine", "reject")
HELD = ("quarantine", "reject")
TAG_SWEEP = (3.0, 3.5, 4.0, 4.5, 5.0, 6.0)
HOLD_SWEEP = (6.0, 7.0, 8.0, 9.0, 10.0)
MIN_SENDER_RISK = 2.0  # policy.min_sender_risk, as shipped
Record = dict[str, Any]


@dataclass
class Row:
    name: str
    records: list[Record]
    seconds: float = 0.0
    size: float = 0.0

    @property
    def good(self) -> list[Record]:
        return [r for r in self.records if "error" not in r]

    def share(self, keep: Callable[[Record], bool]) -> tuple[int, float]:
        found = sum(1 for r in self.good if keep(r))
        return found, found / max(len(self.good), 1)


def flagged(r: Record) -> bool:
    return bool(r["categories"])


def tagged(r: Record) -> bool:
    return r["action"] in TAGGED


def held(r: Record) -> bool:
    return r["action"] in HELD


def scan(paths: Iterable[Path], workers: int) -> tuple[list[Record], float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "spoofguard.cli", "scan", "--offline", "--json", "--workers", str(workers),
         *map(str, paths)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode not in (0, 4):
        raise SystemExit(f"scan failed ({result.returncode}):\n{result.stderr}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()], time.monotonic() - started


def fired(record: Record, limit: int = 6) -> str:
    signals = sorted((s for s in record.get("signals", []) if s["score"]), key=lambda s: -abs(s["score"]))
    return ", ".join(f"{s['name']} {s['score']:+.1f}" for s in signals[:limit]) or "nothing"


def genres(corpus: Path) -> dict[str, str]:
    """File name -> genre, from LABELS.tsv (honeypot mail without a genre is sextortion: SOURCES.md)."""
    labels = corpus / "LABELS.tsv"
    found: dict[str, str] = {}
    if not labels.is_file():
        return found
    for line in labels.read_text(encoding="utf-8").splitlines():
        cells = line.split("\t")
        if len(cells) < 3 or cells[0].startswith("#") or cells[1] != "intimidation":
            continue
        web = cells[2].startswith(("http://", "https://"))  # web texts carry a genre; the honeypot's are sextortion
        genre = cells[3] if web and len(cells) > 3 and cells[3] else "sextortion (honeypot mail)"
        found[cells[0][:16] + ".eml"] = genre
    return found


def write_own_sets(directory: Path) -> dict[str, Path]:
    """This repository's quoting ham, and the threats it quotes, as .eml files."""
    sets = {"quoting ham (ours)": directory / "quoting", "the threats they quote": directory / "threats"}
    for path in sets.values():
        path.mkdir()
    messages = tomllib.loads((DATA / "quoting_ham.toml").read_text(encoding="utf-8"))["message"]
    more = tomllib.loads((DATA / "ham_more.toml").read_text(encoding="utf-8"))["message"]
    for item in messages + [m for m in more if m["part"] == "quoting"]:
        (sets["quoting ham (ours)"] / f"{item['id']}.eml").write_bytes(
            _eml(item["sender"], item["subject"], item["body"], newsletter=True))
        if "threat" in item:
            (sets["the threats they quote"] / f"{item['id']}.eml").write_bytes(
                _eml("Unknown Sender <sender@example.invalid>", "(no subject)", item["threat"]))
    return sets


def _eml(sender: str, subject: str, body: str, newsletter: bool = False) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "reader@example.org", subject
    message["Date"] = "Mon, 02 Nov 2026 09:30:00 +0000"
    message["Message-ID"] = "<eval@example.invalid>"
    if newsletter:
        message["List-Unsubscribe"] = "<mailto:unsubscribe@example.invalid>"
    message.set_content(body)
    return message.as_bytes()


def sweep(rows: dict[str, Row]) -> list[str]:
    """Tag and hold shares at other thresholds, recomputed from each verdict's signals."""
    def score(r: Record) -> tuple[float, float, float]:
        signals = r.get("signals", [])
        content = sum(s["score"] for s in signals if s["kind"] == "content" and s["score"] > 0)
        risk = sum(s["score"] for s in signals if s["kind"] == "sender_risk" and s["score"] > 0)
        return r["score"], content, risk

    names = list(rows)
    lines = ["| tag at | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    for threshold in TAG_SWEEP:
        def reaches(r: Record, t: float = threshold) -> bool:
            return bool(score(r)[0] >= t)
        cells = [f"{rows[n].share(reaches)[1]:.1%}" for n in names]
        lines.append(f"| {threshold:.1f}{' (shipped)' if threshold == 4.0 else ''} | " + " | ".join(cells) + " |")
    lines += ["", "| quarantine at | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    for threshold in HOLD_SWEEP:
        def holds(r: Record, t: float = threshold) -> bool:
            total, content, risk = score(r)
            return total >= t and content > 0 and risk >= MIN_SENDER_RISK
        cells = [f"{rows[n].share(holds)[1]:.1%}" for n in names]
        lines.append(f"| {threshold:.1f}{' (shipped)' if threshold == 8.0 else ''} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus" / "dev"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "eval.md"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    corpus = Path(args.corpus)
    present = [c for c in CLASSES if (corpus / c).is_dir()]
    rows: dict[str, Row] = {}
    for name in present:
        records, seconds = scan([corpus / name], args.workers)
        size = sum(p.stat().st_size for p in (corpus / name).rglob("*") if p.is_file())
        rows[name] = Row(name, records, seconds, size)
    with tempfile.TemporaryDirectory() as temporary:
        for name, directory in write_own_sets(Path(temporary)).items():
            records, seconds = scan([directory], args.workers)
            rows[name] = Row(name, records, seconds)
    if not present:
        print(f"no corpus at {corpus} (expected {', '.join(CLASSES)} subdirectories): measuring our own sets only")

    lines = [f"# Detector evaluation on {corpus.name if present else 'our own sets'}", "",
             f"`make eval`, {datetime.now(UTC):%Y-%m-%d}: `spoofguard scan --offline --json` per class "
             "(header-based sender signals only: no DNS, RDAP or DNSBL).", "",
             "| class | messages | any category | tag or more | held | unreadable | MB | s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows.values():
        (nf, sf), (nt, st), (nh, _) = row.share(flagged), row.share(tagged), row.share(held)
        lines.append(f"| {row.name} | {len(row.good)} | {nf} ({sf:.1%}) | {nt} ({st:.1%}) | {nh} "
                     f"| {len(row.records) - len(row.good)} | {row.size / 1e6:.1f} | {row.seconds:.1f} |")
    lines += ["", "## Targets", "", *targets(rows, genres(corpus))]
    if "intimidation" in rows:
        lines += ["", "## Per genre", "", *per_genre(rows["intimidation"], genres(corpus))]
    lines += ["", "## Threshold sweep", "",
              "Share of each set tagged or more (score at or above the tag threshold), then held "
              "(score at or above the quarantine threshold, with content and sender risk of at least "
              f"{MIN_SENDER_RISK:.1f}: the guard), were the thresholds these.", "", *sweep(rows)]
    lines += details(rows)
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


def targets(rows: dict[str, Row], labels: dict[str, str]) -> list[str]:
    out = []

    def verdict(label: str, value: float, ok: bool, goal: str) -> None:
        out.append(f"- {label}: {value:.1%} (target {goal}): {'met' if ok else 'NOT met'}")

    if "intimidation" in rows:
        share = rows["intimidation"].share(tagged)[1]
        verdict("intimidation tagged or more", share, share >= 0.95, ">= 95%")
        missing = sorted({g for g in labels.values()} - {labels.get(Path(r["path"]).name, "") for r in
                                                          rows["intimidation"].good if tagged(r)})
        out.append(f"- every genre tagged at least once: {'met' if not missing else 'NOT met: ' + ', '.join(missing)}")
    if "ham" in rows:
        count, share = rows["ham"].share(tagged)
        verdict(f"ham tagged ({count})", share, share <= 0.003, "<= 0.3%")
        count, _ = rows["ham"].share(held)
        out.append(f"- ham held: {count} (target 0): {'met' if count == 0 else 'NOT met'}")
    quoting = rows.get("quoting ham (ours)")
    if quoting:
        count, share = quoting.share(tagged)
        verdict(f"our quoting ham tagged ({count} of {len(quoting.good)})", share, share <= 1 / 40, "<= 1 in 40")
    return out


def per_genre(row: Row, labels: dict[str, str]) -> list[str]:
    counts: dict[str, Counter[str]] = {}
    for r in row.good:
        genre = labels.get(Path(r["path"]).name, "unlabelled")
        c = counts.setdefault(genre, Counter())
        c["messages"] += 1
        c["any"] += flagged(r)
        c["tagged"] += tagged(r)
        c["held"] += held(r)
    lines = ["| genre | messages | any category | tag or more | held |", "|---|---:|---:|---:|---:|"]
    for genre, c in sorted(counts.items()):
        lines.append(f"| {genre} | {c['messages']} | {c['any']} | {c['tagged']} | {c['held']} |")
    return lines


def details(rows: dict[str, Row]) -> list[str]:
    out: list[str] = []
    sections: list[tuple[str, str, Callable[[Record], bool]]] = [
        ("intimidation", "Misses: intimidation not tagged", lambda r: not tagged(r)),
        ("the threats they quote", "Misses: quoted threats, sent alone, not tagged", lambda r: not tagged(r)),
        ("ham", "False positives: ham with any category, tagged first", lambda r: flagged(r) or tagged(r)),
        ("quoting ham (ours)", "False positives: our quoting ham tagged", tagged),
        ("spam", "Spam tagged or more (no target: spam is not intimidation)", tagged),
    ]
    for name, title, keep in sections:
        if name not in rows:
            continue
        found = sorted((r for r in rows[name].good if keep(r)), key=lambda r: (not tagged(r), -r["score"]))
        out += ["", f"## {title} ({len(found)})", ""]
        out += [f"- `{Path(r['path']).name}` ({r['action']}, {r['score']:.1f}): {fired(r)}" for r in found] or ["- none"]
        if name == "ham" and found:
            top = Counter(s["name"] for r in found for s in r["signals"] if s["score"] > 0)
            out += ["", "Signals behind them: " + ", ".join(f"{n} ({c})" for n, c in top.most_common(8))]
    return out


if __name__ == "__main__":
    sys.exit(main())
