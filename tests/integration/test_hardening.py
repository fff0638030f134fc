"""Hardening an admin can check: the unit's exposure as systemd scores it, the service's own
unprivileged user and directories as systemd would create them, and no file the milter
writes readable by other users, whatever umask it was started with."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from configparser import ConfigParser
from pathlib import Path

import pytest

from tests.support.dns_server import LoopbackDNS, wait_until
from tests.support.messages import BENIGN, make_message
from tests.support.milter_process import MilterProcess, loopback_config, toml_text
from tests.support.postfix import GOOD_IP, milter_sections, requires_postfix, send_from
from tests.support.postfix_harness import PostfixInstance
from tests.support.processes import terminate

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
UNITS = ("spoofguard.service", "spoofguard-digest.service", "spoofguard-update-bootstrap.service")
MAX_EXPOSURE = 2.0

needs_systemd_tools = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("systemd-analyze", "systemd-sysusers", "systemd-tmpfiles")),
    reason="systemd's tools are not installed (make test installs them)",
)


@pytest.mark.parametrize("unit", UNITS)
@needs_systemd_tools
def test_unit_exposure_is_at_most_two(unit: str) -> None:
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", str(SYSTEMD / unit)],
                            capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE


def service_section(unit: str) -> dict[str, str]:
    parser = ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(SYSTEMD / unit)
    return dict(parser["Service"])


@pytest.fixture(scope="module")
def provisioned_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root directory provisioned by systemd's own tools from the shipped snippets."""
    root = tmp_path_factory.mktemp("root")
    for kind, snippet in (("sysusers.d", "spoofguard.sysusers"), ("tmpfiles.d", "spoofguard.tmpfiles")):
        (root / "usr/lib" / kind).mkdir(parents=True)
        shutil.copy(SYSTEMD / snippet, root / "usr/lib" / kind / "spoofguard.conf")
    (root / "etc").mkdir()
    subprocess.run(["systemd-sysusers", f"--root={root}"], check=True, capture_output=True, timeout=60)
    subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create"], check=True, capture_output=True, timeout=60)
    return root


@needs_systemd_tools
def test_service_runs_as_its_own_unprivileged_user(provisioned_root: Path) -> None:
    service = service_section("spoofguard.service")
    assert service["User"] == service["Group"] == "spoofguard"
    assert service.get("DynamicUser", "no") == "no"  # a fixed user, so the cache keeps its owner

    users = {line.split(":")[0]: line.split(":") for line in (provisioned_root / "etc/passwd").read_text().splitlines()}
    _, _, uid, gid, _, home, shell = users["spoofguard"]
    assert 0 < int(uid) < 1000 and shell == "/usr/sbin/nologin"  # a system user nobody logs in as
    state = provisioned_root / "var/lib/spoofguard"
    assert home == "/var/lib/spoofguard"
    assert (state.stat().st_uid, stat.S_IMODE(state.stat().st_mode)) == (int(uid), 0o750)
    config_dir = provisioned_root / "etc/spoofguard"
    assert (config_dir.stat().st_uid, config_dir.stat().st_gid) == (0, int(gid))  # it reads its rules, never writes them
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o750


def world_accessible(directory: Path) -> list[str]:
    return [f"{oct(stat.S_IMODE(p.lstat().st_mode))} {p}" for p in [directory, *directory.rglob("*")]
            if p.lstat().st_mode & 0o007]


@pytest.fixture(scope="module")
def milter(dns: LoopbackDNS) -> Iterator[MilterProcess]:
    """Started under the permissive umask of an admin's shell, with a state directory it
    has to create itself."""
    process = MilterProcess(milter_sections(dns))
    process.write_config({**milter_sections(dns), "state": {"dir": str(process.dir / "state" / "spoofguard")}})
    previous = os.umask(0o022)
    try:
        process.start()
    finally:
        os.umask(previous)
    try:
        yield process
    finally:
        process.stop()


@requires_postfix
@pytest.mark.postfix
def test_cache_files_are_not_world_readable(postfix: PostfixInstance, milter: MilterProcess) -> None:
    message = make_message(BENIGN, subject="modes", sender="News <news@modes.test>", to="modes@example.test")
    assert send_from(postfix, GOOD_IP, message, rcpt="modes@example.test", mail_from="news@modes.test").accepted
    postfix.wait_for_mail("modes", 1)
    state = milter.dir / "state"
    assert wait_until(lambda: (state / "spoofguard" / "cache.sqlite-wal").exists(), timeout=5)
    assert world_accessible(state / "spoofguard") == []


def test_unix_socket_is_for_the_mta_group_only(dns: LoopbackDNS, tmp_path: Path) -> None:
    socket_path = tmp_path / "run" / "spoofguard.sock"
    socket_path.parent.mkdir()
    config = tmp_path / "spoofguard.toml"
    config.write_text(toml_text(loopback_config(dns.port, tmp_path, milter={"socket": f"unix:{socket_path}"})))
    previous = os.umask(0o022)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "spoofguard.cli", "serve", "--config", str(config)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    finally:
        os.umask(previous)
    try:
        assert wait_until(socket_path.exists, timeout=15), proc.stdout.read() if proc.poll() is not None and proc.stdout else ""
        mode = stat.S_IMODE(socket_path.stat().st_mode)
        assert mode & 0o007 == 0 and mode & 0o060 == 0o060, oct(mode)  # group connects, others cannot
    finally:
        terminate(proc, 15)


@needs_systemd_tools
def test_the_socket_unit_verifies_and_starts_the_hardened_service(tmp_path: Path) -> None:
    """spoofguard.socket passes systemd's own checks and activates spoofguard.service, the
    unit whose exposure test_unit_exposure_is_at_most_two holds at 2.0 or below."""
    for unit in ("spoofguard.socket", "spoofguard.service"):
        shutil.copy(SYSTEMD / unit, tmp_path / unit)
    service = tmp_path / "spoofguard.service"  # verify wants an ExecStart that exists here
    service.write_text(service.read_text().replace("ExecStart=/usr/local/bin/spoofguard", "ExecStart=/bin/true"))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "spoofguard.socket")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    parser = ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(SYSTEMD / "spoofguard.socket")
    socket_section = dict(parser["Socket"])
    assert socket_section["ListenStream"] == "/run/spoofguard/spoofguard.sock"
    assert (socket_section["SocketGroup"], socket_section["SocketMode"]) == ("spoofguard", "0660")
    assert socket_section["Accept"] == "no"  # one daemon; libmilter accepts the connections
    assert service_section("spoofguard.service")["RuntimeDirectoryPreserve"] == "yes"  # a restart keeps the socket
