"""A private, throw-away Postfix instance for end-to-end milter tests.

The instance lives entirely in one temporary directory (configuration, queue,
log and delivered mail), listens on a free loopback port, never touches DNS and
never touches the system Postfix in /etc/postfix.  Tests drive it over SMTP and
inspect the outcome through Maildirs, the queue and the log file.
"""

from __future__ import annotations

import email.message
import email.policy
import json
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
POSTQUEUE = "/usr/sbin/postqueue"
POSTSUPER = "/usr/sbin/postsuper"
POSTCAT = "/usr/sbin/postcat"

KEEP_ENV = "SPOOFGUARD_KEEP_POSTFIX"
DELIVERY_USER = "nobody"
START_TIMEOUT = 20.0
REAP_TIMEOUT = 5.0
QUEUE_NAMES = frozenset({"hold", "deferred", "active", "incoming", "maildrop"})

MASTER_CF = """\
# service  type  private unpriv chroot wakeup maxproc command
{listen}     inet  n       -       n       -       -       smtpd
pickup     unix  n       -       n       60      1       pickup
cleanup    unix  n       -       n       -       0       cleanup
qmgr       unix  n       -       n       300     1       qmgr
rewrite    unix  -       -       n       -       -       trivial-rewrite
bounce     unix  -       -       n       -       0       bounce
defer      unix  -       -       n       -       0       bounce
trace      unix  -       -       n       -       0       bounce
verify     unix  -       -       n       -       1       verify
flush      unix  n       -       n       1000?   0       flush
proxymap   unix  -       -       n       -       -       proxymap
proxywrite unix  -       -       n       -       1       proxymap
smtp       unix  -       -       n       -       -       smtp
relay      unix  -       -       n       -       -       smtp
showq      unix  n       -       n       -       -       showq
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
maildir    unix  -       n       n       -       -       pipe
  flags=DORXu user={user} argv=/bin/sh {deliver} {maildir_root} ${{user}}
lmtp       unix  -       -       n       -       -       lmtp
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
postlog    unix-dgram n  -       n       -       1       postlogd
"""

VIRTUAL_MAILBOX_REGEXP = "%^[^@+./][^@+/]*(\\+[^@]*)?@% OK\n"

# virtual(8) opens virtual_mailbox_maps "paranoid": no regexp $1 substitution and no
# socketmap/tcp tables, so it cannot derive a Maildir per arbitrary recipient.  Mail
# for the delivery domains therefore goes to a pipe(8) service that gets ${user}
# (localpart, extension stripped, lowercased) and writes a Maildir itself.
MAILDIR_DELIVERY = """\
#!/bin/sh
# pipe(8) command: deliver stdin into the Maildir MAILDIR_ROOT/LOCALPART/.
PATH=/usr/bin:/bin
export PATH
root=$1
user=$2
case $user in
    ''|.*|*/*) echo "invalid mailbox name: $user"; exit 67 ;;
esac
box=$root/$user
umask 022
mkdir -p "$box/tmp" "$box/new" "$box/cur" || exit 75
name=$(date +%s.%N).P$$.mx
if ! cat > "$box/tmp/$name"; then rm -f "$box/tmp/$name"; exit 75; fi
mv "$box/tmp/$name" "$box/new/$name" || exit 75
"""


class PostfixError(RuntimeError):
    """A Postfix command or the instance itself failed; carries the diagnostics."""


@dataclass(frozen=True)
class SendResult:
    """Outcome of one SMTP transaction, as the client saw its final reply.

    ``refused`` maps each refused recipient to its ``(code, message)``.
    """

    accepted: bool
    code: int
    message: str
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)


def free_port() -> int:
    """Return a loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _crlf(data: bytes) -> bytes:
    """SMTP needs CRLF line ends; smtplib does not normalise ``bytes`` payloads."""
    return re.sub(rb"\r\n|\r|\n", b"\r\n", data)


def _message_bytes(message: bytes | str | email.message.EmailMessage) -> bytes:
    if isinstance(message, email.message.EmailMessage):
        return message.as_bytes(policy=email.policy.SMTP)
    if isinstance(message, str):
        return _crlf(message.encode("utf-8"))
    return _crlf(message)


def _pid_running(pid: int) -> bool:
    """True for a live process; zombies count as gone because nobody may reap them."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _wait_reaped(pids: Iterable[int], timeout: float) -> bool:
    """Wait for exited daemons to be reaped by their (re)parent, so none linger as zombies."""
    deadline = time.monotonic() + timeout
    remaining = set(pids)
    while True:
        remaining = {pid for pid in remaining if Path(f"/proc/{pid}").exists()}
        if not remaining:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _wait_gone(pids: Iterable[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    remaining = set(pids)
    while True:
        remaining = {pid for pid in remaining if _pid_running(pid)}
        if not remaining:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


class SmtpEndpoint:
    """The SMTP side of a test MTA listening on loopback port ``_port``."""

    _port: int

    def connect(self, *, helo: str = "client.example.net", timeout: float = 90.0) -> smtplib.SMTP:
        """Open an SMTP session (greeting checked, no EHLO yet) for several ``send`` calls."""
        conn = smtplib.SMTP(local_hostname=helo, timeout=timeout)
        code, reply = conn.connect("127.0.0.1", self._port)
        if code != 220:
            conn.close()
            raise smtplib.SMTPConnectError(code, reply)
        return conn

    def send(
        self,
        message: bytes | email.message.EmailMessage | str,
        *,
        mail_from: str,
        rcpts: list[str],
        helo: str = "client.example.net",
        connection: smtplib.SMTP | None = None,
    ) -> SendResult:
        """Run one SMTP transaction; SMTP-level refusals become a ``SendResult``."""
        if not rcpts:
            raise ValueError("send() needs at least one recipient")
        data = _message_bytes(message)
        try:
            conn = connection if connection is not None else self.connect(helo=helo)
        except smtplib.SMTPConnectError as exc:
            return SendResult(False, exc.smtp_code, _text(exc.smtp_error))
        try:
            return self._transaction(conn, data, mail_from, rcpts)
        except smtplib.SMTPHeloError as exc:
            return SendResult(False, exc.smtp_code, _text(exc.smtp_error))
        except smtplib.SMTPServerDisconnected as exc:
            return SendResult(False, 421, f"server disconnected: {exc}")
        finally:
            if connection is None:
                try:
                    conn.quit()
                except (smtplib.SMTPException, OSError):
                    conn.close()

    @staticmethod
    def _transaction(
        conn: smtplib.SMTP, data: bytes, mail_from: str, rcpts: list[str]
    ) -> SendResult:
        conn.ehlo_or_helo_if_needed()
        code, reply = conn.mail(mail_from)
        if code != 250:
            _reset(conn)
            return SendResult(False, code, _text(reply))
        refused: dict[str, tuple[int, str]] = {}
        for rcpt in rcpts:
            code, reply = conn.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = (code, _text(reply))
        if len(refused) == len(rcpts):
            _reset(conn)
            return SendResult(False, code, _text(reply), refused)
        try:
            code, reply = conn.data(data)
        except smtplib.SMTPDataError as exc:
            return SendResult(False, exc.smtp_code, _text(exc.smtp_error), refused)
        return SendResult(code == 250, code, _text(reply), refused)



class PostfixInstance(SmtpEndpoint):
    """One private Postfix instance, usable as a context manager."""

    def __init__(
        self,
        milter: str | None = None,
        *,
        domains: Iterable[str] = ("example.test",),
        main_cf_extra: Mapping[str, str] | None = None,
    ) -> None:
        if not os.path.exists(POSTFIX):
            raise PostfixError(f"{POSTFIX} is not installed")
        self._root = Path(tempfile.mkdtemp(prefix="spoofguard-postfix-"))
        self._root.chmod(0o755)
        self._port = free_port()
        self._domains = tuple(domains)
        self._milter = milter
        self._started = False
        self._master_pid: int | None = None
        try:
            self._write_config(main_cf_extra or {})
        except BaseException:
            shutil.rmtree(self._root, ignore_errors=True)
            raise

    # -- layout -----------------------------------------------------------

    @property
    def smtp_port(self) -> int:
        """Loopback port smtpd listens on."""
        return self._port

    @property
    def config_dir(self) -> Path:
        """Directory holding main.cf and master.cf (the ``-c`` argument)."""
        return self._root / "etc"

    @property
    def maildir_root(self) -> Path:
        """Directory containing one Maildir per recipient localpart."""
        return self._root / "mail"

    @property
    def queue_dir(self) -> Path:
        """Postfix queue_directory of this instance."""
        return self._root / "spool"

    @property
    def maillog_path(self) -> Path:
        """File postlogd writes this instance's log to (no syslog involved)."""
        return self._root / "log" / "maillog"

    def _base_main_cf(self) -> dict[str, str]:
        """Settings written to main.cf before ``main_cf_extra`` is applied."""
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self._root / "data"),
            "maillog_file": str(self.maillog_path),
            "maillog_file_prefixes": str(self._root),
            "myhostname": "mx.spoofguard.test",
            "mydomain": "spoofguard.test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "biff": "no",
            "alias_maps": "",
            "alias_database": "",
            "relay_domains": "",
            "smtpd_relay_restrictions": "reject_unauth_destination",
            "smtpd_banner": "$myhostname ESMTP",
            "smtpd_error_sleep_time": "0s",
            "smtpd_peername_lookup": "no",
            "smtp_dns_support_level": "disabled",
            "lmtp_dns_support_level": "disabled",
            "smtp_host_lookup": "native",
            "lmtp_host_lookup": "native",
            "smtpd_tls_security_level": "none",
            "smtp_tls_security_level": "none",
            "default_transport": "discard:outbound mail is disabled in the test instance",
            "relay_transport": "discard:outbound mail is disabled in the test instance",
            "virtual_mailbox_domains": ", ".join(self._domains),
            "virtual_mailbox_maps": f"regexp:{self.config_dir / 'virtual_mailbox.regexp'}",
            "virtual_transport": "maildir",
            "maildir_destination_recipient_limit": "1",
            "recipient_delimiter": "+",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "in_flow_delay": "0s",
            "delay_warning_time": "0h",
        }
        if self._milter:
            settings.update(
                {
                    "smtpd_milters": self._milter,
                    "non_smtpd_milters": self._milter,
                    "milter_default_action": "tempfail",
                    "milter_protocol": "6",
                    "milter_connect_timeout": "5s",
                    "milter_command_timeout": "30s",
                    "milter_content_timeout": "60s",
                }
            )
        return settings

    def _write_config(self, extra: Mapping[str, str]) -> None:
        delivery = pwd.getpwnam(DELIVERY_USER)
        if delivery.pw_uid < 100:
            raise PostfixError(f"delivery user {DELIVERY_USER} has uid {delivery.pw_uid} < 100")
        for path in (self.config_dir, self.queue_dir, self._root / "log", self.maildir_root):
            path.mkdir(mode=0o755)
        os.chown(self.maildir_root, delivery.pw_uid, delivery.pw_gid)
        settings = self._base_main_cf() | {key: str(value) for key, value in extra.items()}
        (self.config_dir / "main.cf").write_text(
            "".join(f"{key} = {value}\n" for key, value in settings.items())
        )
        (self.config_dir / "master.cf").write_text(
            MASTER_CF.format(
                listen=f"127.0.0.1:{self._port}",
                user=f"{delivery.pw_name}",
                deliver=self.config_dir / "maildir-deliver",
                maildir_root=self.maildir_root,
            )
        )
        (self.config_dir / "virtual_mailbox.regexp").write_text(VIRTUAL_MAILBOX_REGEXP)
        (self.config_dir / "maildir-deliver").write_text(MAILDIR_DELIVERY)

    # -- commands -----------------------------------------------------------

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a Postfix command against this instance; failures carry stderr."""
        env = {key: value for key, value in os.environ.items() if key != "MAIL_CONFIG"}
        try:
            return subprocess.run(
                list(argv), check=True, capture_output=True, text=True, env=env, timeout=60
            )
        except subprocess.CalledProcessError as exc:
            raise PostfixError(
                f"{' '.join(argv)} exited {exc.returncode}: "
                f"{(exc.stderr or '').strip() or (exc.stdout or '').strip()}"
            ) from exc

    def _postfix(self, action: str) -> subprocess.CompletedProcess[str]:
        return self._run(POSTFIX, "-c", str(self.config_dir), action)

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        """Start the instance and wait until smtpd greets."""
        if self._started:
            return
        try:
            self._postfix("start")
        except PostfixError as exc:
            raise PostfixError(f"{exc}\n--- maillog tail ---\n{self.maillog_tail()}") from exc
        self._started = True
        self._master_pid = self._read_master_pid()
        deadline = time.monotonic() + START_TIMEOUT
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                self._probe_banner()
                return
            except OSError as exc:
                last_error = exc
                time.sleep(0.1)
        raise PostfixError(
            f"smtpd on 127.0.0.1:{self._port} did not answer within {START_TIMEOUT:.0f}s "
            f"({last_error})\n--- maillog tail ---\n{self.maillog_tail()}"
        )

    def _probe_banner(self) -> None:
        with socket.create_connection(("127.0.0.1", self._port), timeout=5) as sock:
            banner = sock.makefile("rb").readline().decode("utf-8", "replace")
            if not re.match(r"^\d{3}[ -]", banner):
                raise OSError(f"unexpected greeting {banner!r}")
            sock.sendall(b"QUIT\r\n")

    def _read_master_pid(self) -> int | None:
        try:
            return int((self.queue_dir / "pid" / "master.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def stop(self) -> None:
        """Stop Postfix, make sure none of its processes survive, remove the directory."""
        try:
            processes = self._instance_pids()
            if self._started:
                master = self._read_master_pid() or self._master_pid
                if master is not None:
                    processes.add(master)
                self._shutdown_master(master)
            self._kill_leftovers()
            _wait_reaped(processes, REAP_TIMEOUT)
        finally:
            self._started = False
            if os.environ.get(KEEP_ENV) != "1":
                shutil.rmtree(self._root, ignore_errors=True)

    def _shutdown_master(self, pid: int | None) -> None:
        try:
            self._postfix("stop")
        except PostfixError:
            try:
                self._postfix("abort")
            except PostfixError:
                pass
        if pid is not None and not _wait_gone([pid], 10):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _wait_gone([pid], 5)

    def _instance_pids(self) -> set[int]:
        """Processes whose environment names this instance's config directory."""
        marker = f"MAIL_CONFIG={self.config_dir}".encode()
        own = os.getpid()
        pids: set[int] = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == own:
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker in environ.split(b"\0"):
                pids.add(int(entry.name))
        return pids

    def _kill_leftovers(self) -> None:
        pids = {pid for pid in self._instance_pids() if _pid_running(pid)}
        for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            _wait_gone(pids, grace)
            pids = {pid for pid in pids if _pid_running(pid)}

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def reload(self) -> None:
        """Apply configuration changes and wait until new connections see them.

        ``postfix reload`` only signals the master, so wait for its log entry and
        for the previous generation of idle daemons to exit.
        """
        if not self._started:
            return
        master = self._read_master_pid() or self._master_pid
        old = {pid for pid in self._instance_pids() if pid != master}
        seen = self.maillog().count("reload -- version")
        self._postfix("reload")
        deadline = time.monotonic() + 10
        while self.maillog().count("reload -- version") <= seen:
            if time.monotonic() >= deadline:
                raise PostfixError(f"reload was not logged\n{self.maillog_tail()}")
            time.sleep(0.05)
        _wait_gone(old, 5)

    def set_main_cf(self, **settings: str) -> None:
        """Change main.cf parameters and reload a running instance."""
        if not settings:
            return
        self._run(
            POSTCONF,
            "-c",
            str(self.config_dir),
            "-e",
            *(f"{key}={value}" for key, value in settings.items()),
        )
        self.reload()

    # -- delivered mail --------------------------------------------------------

    def mailbox(self, localpart: str) -> list[bytes]:
        """Raw messages delivered to ``localpart`` (case-insensitive), oldest first."""
        maildir = self.maildir_root / localpart.lower()
        files = [
            path
            for sub in ("new", "cur")
            if (maildir / sub).is_dir()
            for path in (maildir / sub).iterdir()
            if path.is_file()
        ]
        files.sort(key=lambda path: (path.stat().st_mtime_ns, path.name))
        return [path.read_bytes() for path in files]

    def wait_for_mail(self, localpart: str, count: int, timeout: float = 20) -> list[bytes]:
        """Poll until ``localpart`` has at least ``count`` messages."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.mailbox(localpart)
            if len(messages) >= count:
                return messages
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{localpart}: {len(messages)} of {count} messages after {timeout}s\n"
                    f"queue: {self.queue()}\n--- maillog tail ---\n{self.maillog_tail()}"
                )
            time.sleep(0.1)

    # -- queue -------------------------------------------------------------------

    def queue(self, name: str | None = None) -> list[dict[str, Any]]:
        """Queue entries as reported by ``postqueue -j``, optionally of one queue."""
        if name is not None and name not in QUEUE_NAMES:
            raise ValueError(f"unknown queue {name!r}; expected one of {sorted(QUEUE_NAMES)}")
        out = self._run(POSTQUEUE, "-c", str(self.config_dir), "-j").stdout
        entries = [json.loads(line) for line in out.splitlines() if line.strip()]
        return [entry for entry in entries if name is None or entry.get("queue_name") == name]

    def wait_for_queue(
        self, name: str | None, count: int, timeout: float = 20
    ) -> list[dict[str, Any]]:
        """Poll until queue ``name`` (all queues for None) holds at least ``count`` messages."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.queue(name)
            if len(entries) >= count:
                return entries
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"queue {name}: {len(entries)} of {count} messages after {timeout}s "
                    f"(all: {self.queue()})\n--- maillog tail ---\n{self.maillog_tail()}"
                )
            time.sleep(0.1)

    def postcat(self, queue_id: str) -> str:
        """Headers and body of a queued message."""
        return self._run(POSTCAT, "-c", str(self.config_dir), "-hb", "-q", queue_id).stdout

    def flush(self) -> None:
        """Ask the queue manager to retry deferred mail now."""
        self._run(POSTQUEUE, "-c", str(self.config_dir), "-f")

    def release_hold(self, queue_id: str) -> None:
        """Move a held message back into the deferred queue."""
        self._run(POSTSUPER, "-c", str(self.config_dir), "-H", queue_id)

    def delete(self, queue_id: str) -> None:
        """Remove a queued message, as an admin discards a held one."""
        self._run(POSTSUPER, "-c", str(self.config_dir), "-d", queue_id)

    # -- logging -------------------------------------------------------------------

    def maillog(self) -> str:
        """Everything this instance logged so far."""
        try:
            return self.maillog_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def maillog_tail(self, lines: int = 40) -> str:
        """Last log lines, for failure messages."""
        return "\n".join(self.maillog().splitlines()[-lines:])


def _reset(conn: smtplib.SMTP) -> None:
    try:
        conn.rset()
    except (smtplib.SMTPException, OSError):
        pass
