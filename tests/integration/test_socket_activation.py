"""Socket activation: systemd opens the socket and starts spoofguard on the first
connection (here systemd-socket-activate, which passes sockets the way systemd does);
spoofguard listens on the inherited descriptor and Postfix's mail is judged through it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.dns_server import LoopbackDNS, wait_until
from tests.support.messages import THREAT, make_message
from tests.support.milter_process import free_port, terminate, toml_text
from tests.support.postfix import GOOD_IP, XCLIENT, milter_sections, requires_postfix, send_from
from tests.support.postfix_harness import PostfixInstance

pytestmark = [
    requires_postfix,
    pytest.mark.skipif(shutil.which("systemd-socket-activate") is None, reason="systemd is not installed"),
]


def test_the_milter_serves_on_the_socket_systemd_passes(dns: LoopbackDNS, tmp_path: Path) -> None:
    port = free_port()
    sections = milter_sections(dns, milter={"socket": "unix:/nonexistent/never-used.sock"},
                               state={"dir": str(tmp_path)})
    sections["checks"]["domain_age"] = {"rdap": False, "whois": False}
    config = tmp_path / "spoofguard.toml"
    config.write_text(toml_text(sections))
    log = (tmp_path / "milter.log").open("wb")
    activator = subprocess.Popen(["systemd-socket-activate", "-l", f"127.0.0.1:{port}",
                                  sys.executable, "-m", "spoofguard.cli", "serve", "--config", str(config)],
                                 stdout=log, stderr=subprocess.STDOUT)
    try:
        with PostfixInstance(milter=f"inet:127.0.0.1:{port}", main_cf_extra=XCLIENT) as postfix:
            sent = make_message(THREAT, subject="Your vote", sender="patriots@sender.test", to="alice@example.test")
            assert send_from(postfix, GOOD_IP, sent).accepted
            [delivered] = postfix.wait_for_mail("alice", 1)
        assert b"Subject: [SUSPICIOUS] Your vote" in delivered
        passed = "listening on the socket systemd passed (fd:3)"
        assert wait_until(lambda: passed in (tmp_path / "milter.log").read_text(), 5)
        assert "never-used.sock" not in (tmp_path / "milter.log").read_text().split(passed)[1]
    finally:
        terminate(activator, 10)
        log.close()
