"""Measure the detector on a labelled corpus: ``make eval``.

Runs ``spoofguard scan --offline --json`` over each class directory of the corpus
(``intimidation``, ``spam``, ``ham``) and writes ``bench/results/eval.md``: per class, how
many messages had an intimidation category flagged and how many would be tagged or
quarantined, then every miss (intimidation not flagged) and every false positive (ham
flagged) by file name with the signals that fired. The corpus is for measuring only:
rules describe patterns of the genre, never individual messages.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ("intimidation", "spam", "ham")
TARGETS = {"intimidation": ("flagged", ">=", 0.95), "ham": ("flagged", "<=", 0.005)}


def scan(directory: Path, workers: int) -> tuple[list[dict[str, Any]], float, int]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "spoofguard.cli", "scan", "--offline", "--json", "--workers", str(workers), str(directory)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode not in (0, 4):
        raise SystemExit(f"scan of {directory} failed ({result.returncode}):\n{result.stderr}")
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    return records, time.monotonic() - started, size


def fired(record: dict[str, Any]) -> str:
    return ", ".join(f"{s['name']} {s['score']:+.1f}" for s in record.get("signals", []) if s["score"]) or "nothing"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus" / "dev"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "eval.md"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    corpus = Path(args.corpus)
    present = [c for c in CLASSES if (corpus / c).is_dir()]
    if not present:
        print(f"eval skipped: no corpus at {corpus} (expected {', '.join(CLASSES)} subdirectories)")
        return 0
    lines = [f"# Detector evaluation on {corpus.name}", "",
             f"`make eval`, {datetime.now(UTC):%Y-%m-%d}: `spoofguard scan --offline --json` per class "
             "(header-based sender signals only: no DNS, RDAP or DNSBL).", "",
             "| class | messages | flagged (any category) | tagged or more | quarantined | unreadable | MB | s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    details: list[str] = []
    verdicts: list[str] = []
    for name in present:
        records, seconds, size = scan(corpus / name, args.workers)
        good = [r for r in records if "error" not in r]
        flagged = [r for r in good if r["categories"]]
        tagged = [r for r in good if r["action"] in ("tag", "quarantine", "reject")]
        held = [r for r in good if r["action"] in ("quarantine", "reject")]
        n = max(len(good), 1)
        lines.append(f"| {name} | {len(good)} | {len(flagged)} ({len(flagged) / n:.1%}) | {len(tagged)} ({len(tagged) / n:.1%}) "
                     f"| {len(held)} | {len(records) - len(good)} | {size / 1e6:.1f} | {seconds:.1f} |")
        if name in TARGETS:
            _, op, goal = TARGETS[name]
            share = len(flagged) / n
            ok = share >= goal if op == ">=" else share <= goal
            verdicts.append(f"- {name}: flagged {share:.1%} (target {op} {goal:.1%}): {'met' if ok else 'NOT met'}")
        if name == "intimidation":
            misses = [r for r in good if not r["categories"]]
            details += ["", f"## Misses: intimidation not flagged ({len(misses)})", ""]
            details += [f"- `{Path(r['path']).name}`: {fired(r)}" for r in misses] or ["- none"]
        elif name == "ham":
            details += ["", f"## False positives: ham flagged ({len(flagged)})", ""]
            details += [f"- `{Path(r['path']).name}` ({r['action']}, {r['score']}): {fired(r)}" for r in flagged] or ["- none"]
    text = "\n".join(lines + ["", "## Targets", "", *verdicts, *details]) + "\n"
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
