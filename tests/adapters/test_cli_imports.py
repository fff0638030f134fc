"""The command-line tools run without the pymilter adapter: check, scan and config check
load the pure core only, so they work where libmilter is missing and start fast."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["spoofguard.cli", "spoofguard.scan", "spoofguard.core", "spoofguard.assembly"])
def test_tools_do_not_load_milter(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in ('Milter', 'milter', 'spoofguard.service') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
