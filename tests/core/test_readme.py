"""The README's examples work as printed: an admin copies them."""

from __future__ import annotations

import re
from pathlib import Path

from spoofguard import config
from spoofguard.checks.content.moves import example_failures
from spoofguard.checks.content.rules import load_rule_files

README = Path(__file__).resolve().parents[2] / "README.md"


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


def test_the_writing_a_check_example_is_the_one_the_tests_run() -> None:
    """The code printed under "Writing a check" is tests/support/example_check as it is."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Writing a check"):]
    printed = re.search(r"```python\n(.*?)```", section, re.S)
    assert printed is not None
    source = (README.parent / "tests" / "support" / "example_check" / "__init__.py").read_text(encoding="utf-8")
    assert printed.group(1) in source
    assert "class SubjectWordsCheck" in printed.group(1)


def test_the_sendmail_line_is_the_one_the_sendmail_tests_run() -> None:
    """The README's INPUT_MAIL_FILTER is the test instance's, but for the milter's address."""
    from tests.support.sendmail_harness import MC

    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Sendmail"):]
    printed = re.search(r"^INPUT_MAIL_FILTER\(.*$", section, re.M)
    tested = re.search(r"^INPUT_MAIL_FILTER\(.*$", MC, re.M)
    assert printed is not None and tested is not None
    assert printed.group(0).replace("inet:8895@127.0.0.1", "{milter}") == tested.group(0)
