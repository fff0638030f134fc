"""A private, throw-away Sendmail instance for end-to-end milter tests.

Debian's ``sendmail-bin`` conflicts with ``postfix``, which the other tests need, so the
binaries come unpacked from the Debian packages (``make sendmail``: ``apt-get download``
and ``dpkg-deb -x`` into ``.cache/sendmail``), never installed. The instance has its own
``.cf`` built with m4 from the packaged ``cf/`` tree, its own queue (where quarantined
messages are ``hf`` files), a loopback port, no DNS (hosts file only), and a local mailer
that writes a Maildir per recipient for the tests to read.
"""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.dns_server import wait_until
from tests.support.postfix_harness import SmtpEndpoint, free_port

ROOT = Path(os.environ.get("SPOOFGUARD_SENDMAIL_ROOT", Path(__file__).resolve().parents[2] / ".cache" / "sendmail" / "root"))
SENDMAIL = ROOT / "usr" / "libexec" / "sendmail" / "sendmail"
CF_DIR = ROOT / "usr" / "share" / "sendmail" / "cf"
LOCAL_DOMAIN = "example.test"
START_TIMEOUT = 20.0

DELIVER = """\
#!/bin/sh
# Sendmail's local mailer: write stdin into the Maildir ROOT/LOCALPART/new.
exec 2>>"$1/deliver.log"
set -e
box="$1/$(printf '%s' "$2" | tr 'A-Z' 'a-z')"
mkdir -p "$box/tmp" "$box/new" "$box/cur"
name="$(date +%s%N).$$.sendmail"
cat > "$box/tmp/$name"
mv "$box/tmp/$name" "$box/new/$name"
"""

MC = """\
divert(-1)
divert(0)dnl
include(`{cf}/m4/cf.m4')dnl
OSTYPE(`linux')dnl
define(`confDOMAIN_NAME', `mx.{domain}')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confSERVICE_SWITCH_FILE', `{dir}/service.switch')dnl
define(`confHOSTS_FILE', `{dir}/hosts')dnl
define(`ALIAS_FILE', `{dir}/aliases')dnl
define(`STATUS_FILE', `{dir}/statistics')dnl
define(`confHELP_FILE', `{dir}/helpfile')dnl
define(`QUEUE_DIR', `{dir}/mqueue')dnl
define(`confPID_FILE', `{dir}/sendmail.pid')dnl
define(`confLOG_LEVEL', `9')dnl
define(`confTO_CONNECT', `5s')dnl
define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit,MapInUnsafeDirPath,HelpFileInUnsafeDirPath,RunProgramInUnsafeDirPath,GroupWritableDirPathSafe,GroupWritableForwardFileSafe,GroupWritableIncludeFileSafe,GroupReadableKeyFile,AssumeSafeChown,ForwardFileInUnsafeDirPath,WorldWritableForwardfile,FileDeliveryToSymlink,FileDeliveryToHardLink,NonRootSafeAddr')dnl
define(`confPRIVACY_FLAGS', `authwarnings')dnl
define(`confDELIVERY_MODE', `background')dnl
define(`LOCAL_MAILER_PATH', `/bin/sh')dnl
define(`LOCAL_MAILER_ARGS', `sh {dir}/deliver {dir}/maildir $u')dnl
define(`LOCAL_MAILER_FLAGS', `SPn')dnl
MODIFY_MAILER_FLAGS(`LOCAL', `-w')dnl
FEATURE(`no_default_msa')dnl
FEATURE(`accept_unresolvable_domains')dnl
FEATURE(`accept_unqualified_senders')dnl
FEATURE(`nocanonify')dnl
LOCAL_DOMAIN(`{domain}')dnl
DAEMON_OPTIONS(`Port={port}, Addr=127.0.0.1, Name=MTA')dnl
INPUT_MAIL_FILTER(`spoofguard', `S={milter}, F=T, T=S:30s;R:60s;E:5m')dnl
MAILER(`local')dnl
MAILER(`smtp')dnl
"""


class SendmailError(RuntimeError):
    """The Sendmail instance failed to build or start; carries the diagnostics."""


def available() -> bool:
    return SENDMAIL.is_file() and CF_DIR.is_dir() and all(shutil.which(t) for t in ("m4", "unshare"))


class SendmailInstance(SmtpEndpoint):
    """One Sendmail daemon in a temporary directory, milter ``milter`` in front of it."""

    def __init__(self, milter: str) -> None:
        self.milter = milter  # "inet:PORT@127.0.0.1"
        self._port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="spoofguard-sendmail-"))
        self.cf = self.dir / "sendmail.cf"
        self.maildir_root = self.dir / "maildir"
        self.queue_dir = self.dir / "mqueue"
        self.proc: subprocess.Popen[bytes] | None = None
        # Sendmail in a UTS namespace named mx.<domain>: it sleeps a minute at start when the
        # host's own name is unqualified (as a test machine's often is), before reading any
        # configuration. This is the binary the tests hand to `spoofguard quarantine` too.
        self.binary = self.dir / "sendmail"

    # -- life cycle ----------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _write_config(self) -> None:
        self.dir.chmod(0o755)  # the local mailer runs as another user and must reach the Maildirs
        self.queue_dir.mkdir(mode=0o700)
        self.maildir_root.mkdir()
        self.maildir_root.chmod(0o777)
        (self.dir / "deliver").write_text(DELIVER)
        self.binary.write_text(f"#!/bin/sh\nexec unshare --uts sh -c 'hostname mx.{LOCAL_DOMAIN} && exec \"$@\"' "
                               f"sendmail {SENDMAIL} \"$@\"\n")
        self.binary.chmod(0o755)
        (self.dir / "service.switch").write_text("hosts files\naliases files\n")
        (self.dir / "hosts").write_text(f"127.0.0.1 localhost mx.{LOCAL_DOMAIN}\n")
        (self.dir / "aliases").write_text("postmaster: root\nMAILER-DAEMON: postmaster\n")
        (self.dir / "helpfile").write_text("")
        (self.dir / "statistics").write_text("")
        mc = MC.format(cf=CF_DIR, dir=self.dir, domain=LOCAL_DOMAIN, port=self._port, milter=self.milter)
        (self.dir / "sendmail.mc").write_text(mc)
        built = subprocess.run(["m4", f"-D_CF_DIR_={CF_DIR}/", str(self.dir / "sendmail.mc")],
                               capture_output=True, text=True, check=False)
        if built.returncode != 0 or "Cw" not in built.stdout:
            raise SendmailError(f"m4 failed ({built.returncode}): {built.stderr}")
        self.cf.write_text(built.stdout)
        self.sendmail("-bi")  # the aliases database

    def command(self, *args: str) -> list[str]:
        """Sendmail with this instance's configuration (through ``self.binary``)."""
        return [str(self.binary), "-C", str(self.cf), *args]

    def sendmail(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the Sendmail binary with this instance's configuration."""
        result = subprocess.run(self.command(*args), capture_output=True, text=True, timeout=60, check=False)
        if check and result.returncode != 0:
            raise SendmailError(f"sendmail {' '.join(args)}: exit {result.returncode}\n{result.stdout}{result.stderr}")
        return result

    def start(self) -> None:
        if not available():
            raise SendmailError(f"no Sendmail under {ROOT} (make sendmail unpacks it)")
        self._write_config()
        self.proc = subprocess.Popen(self.command("-bD", "-q5s"),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
                raise SendmailError(f"sendmail exited with {self.proc.returncode}:\n{out}")
            try:
                with smtplib.SMTP("127.0.0.1", self._port, timeout=2) as probe:
                    probe.noop()
                return
            except (OSError, smtplib.SMTPException):
                time.sleep(0.1)
        raise SendmailError(f"sendmail did not answer on port {self._port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    # -- what happened ---------------------------------------------------------------------

    def mailbox(self, localpart: str) -> list[bytes]:
        box = self.maildir_root / localpart.lower() / "new"
        files = sorted(box.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name)) if box.is_dir() else []
        return [path.read_bytes() for path in files]

    def wait_for_mail(self, localpart: str, count: int, timeout: float = 20) -> list[bytes]:
        if not wait_until(lambda: len(self.mailbox(localpart)) >= count, timeout):
            raise AssertionError(f"{localpart}: {len(self.mailbox(localpart))} of {count} messages after "
                                 f"{timeout}s; queue: {self.mailq()}")
        return self.mailbox(localpart)

    def mailq(self, quarantined: bool = False) -> str:
        """``mailq`` (``-bp``), or ``mailq -qQ`` for the quarantined messages."""
        return self.sendmail("-bp", *(("-qQ",) if quarantined else ()), check=False).stdout

    def quarantined_ids(self) -> list[str]:
        return sorted(p.name[2:] for p in self.queue_dir.glob("hf*"))

    def wait_for_quarantine(self, count: int, timeout: float = 20) -> list[str]:
        if not wait_until(lambda: len(self.quarantined_ids()) >= count, timeout):
            raise AssertionError(f"{len(self.quarantined_ids())} of {count} quarantined after {timeout}s; "
                                 f"mailq: {self.mailq()}")
        return self.quarantined_ids()
