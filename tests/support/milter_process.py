"""Run ``spoofguard serve`` as a real process, as systemd would, for integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .dns_server import wait_until
from .processes import terminate


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def toml_text(sections: dict[str, dict[str, Any]]) -> str:
    """Enough TOML for test configs: nested tables of strings, numbers, booleans, lists."""

    def value(v: Any) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(v)

    def key(k: str) -> str:
        return k if k.replace("_", "").replace("-", "").isalnum() else value(k)

    def is_tables(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)

    lines: list[str] = []

    def table(name: str, items: dict[str, Any]) -> None:
        """Subtables for dicts, ``[[arrays of tables]]`` for lists of dicts."""
        scalars = {k: v for k, v in items.items() if not isinstance(v, dict) and not is_tables(v)}
        if scalars or not items:
            lines.append(f"[{name}]")
            lines.extend(f"{key(k)} = {value(v)}" for k, v in scalars.items())
            lines.append("")
        for k, sub in items.items():
            if isinstance(sub, dict):
                table(f"{name}.{key(k)}", sub)
            elif is_tables(sub):
                for entry in sub:
                    lines.append(f"[[{name}.{key(k)}]]")
                    lines.extend(f"{key(ek)} = {value(ev)}" for ek, ev in entry.items())
                    lines.append("")

    for name, items in sections.items():
        table(name, items)
    return "\n".join(lines)


def offline_registries(directory: Path) -> dict[str, Any]:
    """Domain-age settings that keep a test on loopback: a bootstrap that knows no real
    RDAP server (only .invalid, on a closed loopback port; tests that need one add
    theirs) and no WHOIS."""
    bootstrap = directory / "rdap-none.json"
    if not bootstrap.exists():
        bootstrap.write_text('{"version": "1.0", "publication": "2026-01-01T00:00:00Z", "services": [[["invalid"], ["http://127.0.0.1:9/"]]]}')
    return {"rdap_bootstrap": str(bootstrap), "whois": False}


def loopback_config(dns_port: int, directory: Path, **sections: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A config that asks only the tests' loopback servers and keeps state in ``directory``."""
    config: dict[str, dict[str, Any]] = {
        "dns": {"nameservers": ["127.0.0.1"], "port": dns_port, "timeout": 1.0},
        "state": {"dir": str(directory)},
        "checks": {"domain_age": offline_registries(directory)},
    }
    for name, table in sections.items():
        if name == "checks":
            for check, values in table.items():
                config["checks"][check] = {**config["checks"].get(check, {}), **values}
        else:
            config[name] = {**config.get(name, {}), **table}
    return config


class MilterProcess:
    """``spoofguard serve`` on a free loopback port with a config written by the test."""

    def __init__(self, sections: dict[str, dict[str, Any]] | None = None) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="spoofguard-milter-"))
        self.config_path = self.dir / "spoofguard.toml"
        self.log_path = self.dir / "milter.log"
        self.sections = sections or {}
        self.write_config(self.sections)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """The milter as Postfix names it in ``smtpd_milters``."""
        return f"inet:127.0.0.1:{self.port}"

    def write_config(self, sections: dict[str, dict[str, Any]]) -> None:
        merged = {k: dict(v) for k, v in sections.items()}
        merged.setdefault("milter", {})["socket"] = f"inet:{self.port}@127.0.0.1"
        merged["milter"].setdefault("workers", 2)  # the supervisor and two workers, whatever the cores
        merged.setdefault("state", {}).setdefault("dir", str(self.dir))
        checks = merged.setdefault("checks", {})
        checks["domain_age"] = {**offline_registries(self.dir), **checks.get("domain_age", {})}
        self.config_path.write_text(toml_text(merged))

    def start(self) -> MilterProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spoofguard.cli", "serve", "--config", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        if not wait_until(self._listening, timeout=15):
            self.stop()
            raise RuntimeError(f"milter did not start:\n{self.log()}")
        return self

    def _listening(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"milter exited with {self.proc.returncode}:\n{self.log()}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def reload(self, sections: dict[str, dict[str, Any]] | None = None, raw: str | None = None) -> None:
        """Rewrite the config (structured or raw text) and SIGHUP; wait for the log to say so."""
        if raw is not None:
            self.config_path.write_text(raw)
        elif sections is not None:
            self.write_config(sections)
        before = self.log().count("reload")
        self.signal(signal.SIGHUP)
        if not wait_until(lambda: self.log().count("reload") > before, timeout=10):
            raise RuntimeError(f"no reload logged:\n{self.log()}")

    def stop(self, timeout: float = 10) -> int | None:
        return terminate(self.proc, timeout) if self.proc is not None else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def workers(self) -> list[int]:
        """Pids of the worker processes under the supervisor (none with one worker)."""
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def verdict_lines(self) -> list[str]:
        return [line for line in self.log().splitlines() if "spoofguard.verdict" in line]

    def __enter__(self) -> MilterProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
