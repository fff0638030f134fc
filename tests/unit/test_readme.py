"""The README's examples work as printed: an admin copies them."""

from __future__ import annotations

import re
from pathlib import Path

from spoofguard import config
from spoofguard.checks.content.moves import example_failures
from spoofguard.checks.content.rules import load_rule_files

README = Path(__file__).parent.parent.parent / "README.md"


def test_the_rule_file_example_loads_beside_the_shipped_rules_and_keeps_its_promises(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Content: the moves of intimidation"):]
    example = re.search(r"```toml\n(.*?)```", section, re.S)
    assert example is not None
    mine = tmp_path / "mine.toml"
    mine.write_text(example.group(1), encoding="utf-8")
    rules = load_rule_files([*config.load().rule_files(), mine])
    rule = next(r for r in rules.rules if r.source == str(mine))
    assert example_failures(rule, rules.lexicon) == []
