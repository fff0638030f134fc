"""A domain list file that is not there stops the build, naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from spoofguard import config
from spoofguard.assembly import build_analyzer
from spoofguard.errors import ConfigError


@pytest.mark.parametrize("key", ["protected_domain_files", "freemail_files"])
def test_a_missing_list_file_names_the_key_and_the_file(tmp_path: Path, key: str) -> None:
    path = tmp_path / "spoofguard.toml"
    path.write_text(f'[checks.impersonation]\n{key} = ["builtin", "lists/mine.txt"]\n')
    with pytest.raises(ConfigError) as info:
        build_analyzer(config.load(path), offline=True)
    assert info.value.key == f"checks.impersonation.{key}"
    assert str(tmp_path / "lists" / "mine.txt") in info.value.problem and "does not exist" in info.value.problem
