"""Errors that stop start-up or a reload, each naming the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path


class ConfigError(Exception):
    def __init__(self, path: Path | str, key: str, problem: str) -> None:
        self.path = str(path)
        self.key = key
        self.problem = problem
        where = f"{self.path}: {key}" if key else self.path
        super().__init__(f"{where}: {problem}")
