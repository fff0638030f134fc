"""Command line: ``serve`` runs the milter; ``check`` runs the same core on one message;
``config check`` validates a configuration file; ``update-bootstrap`` refreshes the RDAP
bootstrap."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import __version__, config
from .actions import Deliver, plan
from .assembly import build_store
from .checks.domain_age.bootstrap import IANA_DNS_URL, BootstrapUpdateError, update_bootstrap
from .checks.registry import plugins
from .core import NOT_JUDGED, judge
from .edits import AddHeader
from .errors import ConfigError
from .held import MAX_RECORDS, HeldRecords
from .lookups import LookupSession
from .message import Envelope, Message, strip_brackets
from .quarantine import (
    PostfixQuarantine,
    Quarantine,
    QuarantineError,
    describe,
    detect_mta,
    digest,
    parse_age,
    send_digest,
)
from .runtime import build_runtime
from .sendmail_quarantine import SendmailQuarantine
from .verdict import Action, SignalKind, Verdict

EXIT_CODES = {Action.ACCEPT: 0, Action.TAG: 1, Action.QUARANTINE: 2, Action.REJECT: 3}
EXIT_ERROR = 4
EXIT_USAGE = 64
EXIT_TEMPFAIL = 75  # sysexits EX_TEMPFAIL: try again later
EXIT_CONFIG = 78  # sysexits EX_CONFIG: systemd shows it as a configuration problem


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"spoofguard: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spoofguard", description=__doc__)
    parser.add_argument("--version", action="version", version=f"spoofguard {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the milter in the foreground")
    serve.add_argument("--config", help="configuration file (default: search order in README)")
    serve.set_defaults(handler=_serve)

    check = commands.add_parser(
        "check",
        help="analyse one message and explain the verdict",
        description="Exit code: 0 accept, 1 tag, 2 quarantine, 3 reject, 4 error "
        "(a check could not answer, or the verdict is tempfail).",
    )
    check.add_argument("file", help="an .eml file, or - for standard input")
    check.add_argument("--config", help="configuration file")
    check.add_argument("--client-ip", help="connecting IP address")
    check.add_argument("--client-name", help="connecting host name as the MTA saw it")
    check.add_argument("--helo", help="HELO/EHLO name")
    check.add_argument("--mail-from", help="envelope sender (default: the Return-Path header)")
    check.add_argument("--rcpt", action="append", default=[], help="envelope recipient (repeatable)")
    check.add_argument("--offline", action="store_true", help="no network lookups")
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.add_argument("--delivered", action="store_true",
                       help="a message delivered through this host: trust its own Authentication-Results")
    check.add_argument("--strict", action="store_true",
                       help="exit 4 when any answer was missing, instead of with the verdict's code")
    check.set_defaults(handler=_check)

    scan = commands.add_parser(
        "scan",
        help="analyse many messages (.eml, directories, Maildir, mbox) and summarise",
        description="Runs the milter's analysis over stored mail: how an admin tunes "
        "thresholds before enabling quarantine. Exit 0 when every message was scanned, "
        "4 when some could not be read.",
    )
    scan.add_argument("paths", nargs="+", metavar="PATH", help=".eml file, directory, Maildir or mbox")
    scan.add_argument("--config", help="configuration file")
    scan.add_argument("--offline", action="store_true", help="no network lookups: header-based signals only")
    scan.add_argument("--json", action="store_true", help="one JSON object per message on stdout; summary on stderr")
    scan.add_argument("--workers", type=int, default=1, metavar="N", help="processes to use (default 1)")
    scan.add_argument("--delivered", action="store_true",
                      help="mail delivered through this host: trust its own Authentication-Results, show its "
                           "delivered X-Spoofguard headers")
    scan.set_defaults(handler=_scan)

    quarantine = commands.add_parser(
        "quarantine",
        help="list, show, release or delete the mail spoofguard held",
        description="Works on the MTA's hold queue (Postfix: postqueue, postcat, postsuper; Sendmail: its "
        "quarantined queue files and sendmail -qQ). release delivers a message as it is, re-checking nothing.",
    )
    quarantine.add_argument("--mta", choices=("postfix", "sendmail"), help="which MTA (default: the one installed)")
    quarantine.add_argument("--postfix-config", metavar="DIR", help="Postfix configuration directory (default: the system's)")
    quarantine.add_argument("--sendmail-config", metavar="CF", help="Sendmail's sendmail.cf (default: /etc/mail/sendmail.cf)")
    quarantine.add_argument("--sendmail", metavar="PATH", default="/usr/sbin/sendmail", help="the Sendmail binary")
    q_actions = quarantine.add_subparsers(metavar="ACTION")
    q_list = q_actions.add_parser("list", help="held messages: queue id, age, sender, recipients, subject, score, reason")
    q_list.add_argument("--older-than", metavar="AGE", help="only those held longer than AGE (7d, 12h, 30m)")
    q_list.add_argument("--json", action="store_true", help="one JSON object per message")
    q_list.set_defaults(handler=_quarantine_list)
    q_show = q_actions.add_parser("show", help="print a held message")
    q_show.add_argument("queue_id")
    q_show.set_defaults(handler=_quarantine_show)
    q_digest = q_actions.add_parser("digest", help="mail a summary of newly held messages (for a daily timer)")
    q_digest.add_argument("--to", required=True, metavar="ADDR", help="who gets the digest")
    q_digest.add_argument("--since", metavar="AGE", help="held within AGE (default: since the last digest, else 24h)")
    q_digest.add_argument("--config", help="configuration file (for state.dir, where the last run is kept)")
    q_digest.set_defaults(handler=_quarantine_digest)
    for name, text in (("release", "deliver held messages as they are"), ("delete", "discard held messages")):
        sub = q_actions.add_parser(name, help=text)
        sub.add_argument("queue_ids", nargs="*", metavar="QUEUE_ID")
        sub.add_argument("--older-than", metavar="AGE", help="every held message older than AGE")
        sub.set_defaults(handler=_quarantine_change, change=name)

    update = commands.add_parser(
        "update-bootstrap",
        help="refresh the IANA RDAP bootstrap into the state directory",
        description="Downloads IANA's RDAP bootstrap (dns.json) into <state.dir>/rdap/, where "
        "the milter prefers it to the snapshot shipped in the package. Run it from a weekly "
        "timer; the running milter picks it up on reload (SIGHUP). Exit 75 when the download "
        "fails (the old file is kept).",
    )
    update.add_argument("--config", help="configuration file (for state.dir)")
    update.add_argument("--url", default=IANA_DNS_URL, help=f"bootstrap URL (default {IANA_DNS_URL})")
    update.set_defaults(handler=_update_bootstrap)

    cfg = commands.add_parser("config", help="configuration tools")
    cfg_commands = cfg.add_subparsers(metavar="ACTION")
    cfg_check = cfg_commands.add_parser("check", help="validate a configuration file and its rules")
    cfg_check.add_argument("path", nargs="?", help="file to check (default: the one serve would use)")
    cfg_check.set_defaults(handler=_config_check)
    signals = cfg_commands.add_parser("signals", help="every signal the checks can give, what it means, its weight")
    signals.add_argument("path", nargs="?", help="configuration whose weights to show (default: the one serve would use)")
    signals.set_defaults(handler=_config_signals)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from .service import serve  # imports pymilter; other commands work without it

    return serve(args.config)


def _scan(args: argparse.Namespace) -> int:
    from .scan import run

    if args.workers < 1:
        print("spoofguard: --workers must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    return run(args.paths, config_path=args.config, offline=args.offline, as_json=args.json, workers=args.workers,
               delivered=args.delivered)


def _quarantine_store(args: argparse.Namespace) -> Quarantine:
    mta = args.mta or ("postfix" if args.postfix_config else "sendmail" if args.sendmail_config else detect_mta())
    if mta == "sendmail":
        return SendmailQuarantine(args.sendmail_config, args.sendmail)
    if mta != "postfix":
        raise QuarantineError("no MTA found: neither Postfix (postqueue, postsuper, postcat in /usr/sbin) "
                              "nor Sendmail (/etc/mail/sendmail.cf); name one with --mta")
    return PostfixQuarantine(args.postfix_config)


def _older_than(args: argparse.Namespace) -> float | None:
    return parse_age(args.older_than) if getattr(args, "older_than", None) else None


def _quarantine_list(args: argparse.Namespace) -> int:
    try:
        held = _quarantine_store(args).held(_older_than(args))
    except (QuarantineError, ValueError) as exc:
        print(f"spoofguard: {exc}", file=sys.stderr)
        return EXIT_TEMPFAIL if isinstance(exc, QuarantineError) else EXIT_USAGE
    if args.json:
        for entry in held:
            print(json.dumps(entry.to_dict(), ensure_ascii=False))
        return 0
    for entry in held:
        print(describe(entry))
    print(f"{len(held)} held message(s)")
    return 0


def _quarantine_show(args: argparse.Namespace) -> int:
    try:
        sys.stdout.write(_quarantine_store(args).show(args.queue_id))
    except QuarantineError as exc:
        print(f"spoofguard: {exc}", file=sys.stderr)
        return EXIT_TEMPFAIL
    return 0


def _quarantine_digest(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    marker = settings.resolve(settings.state.dir) / "digest.last"
    now = time.time()
    try:
        if args.since:
            since = now - parse_age(args.since)
        else:
            since = float(marker.read_text().strip()) if marker.exists() else now - 86400
        store = _quarantine_store(args)
        records = HeldRecords(build_store(settings, "held", MAX_RECORDS))
        held = [records.complete(h) for h in store.held()]
        fresh = [h for h in held if h.arrival >= since]
        if fresh:
            send_digest(digest(held, since, now), args.to, len(fresh), store.submit_command())
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{now}\n")
    except (QuarantineError, ValueError, OSError) as exc:
        print(f"spoofguard: digest not sent: {exc}", file=sys.stderr)
        return EXIT_TEMPFAIL
    print(f"{len(fresh)} newly held message(s)" + (f"; digest sent to {args.to}" if fresh else "; nothing sent"))
    return 0


def _quarantine_change(args: argparse.Namespace) -> int:
    try:
        store = _quarantine_store(args)
        ids = list(args.queue_ids)
        if args.older_than:
            ids += [h.queue_id for h in store.held(_older_than(args))]
        if not ids:
            print("spoofguard: name queue ids or --older-than", file=sys.stderr)
            return EXIT_USAGE
        done = store.release(ids) if args.change == "release" else store.delete(ids)
    except (QuarantineError, ValueError) as exc:
        print(f"spoofguard: {exc}", file=sys.stderr)
        return EXIT_TEMPFAIL if isinstance(exc, QuarantineError) else EXIT_USAGE
    verb = "released (delivery started)" if args.change == "release" else "deleted"
    print(f"{verb} {len(done)}: {' '.join(done)}")
    return 0


def _update_bootstrap(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    try:
        path, tlds, publication = update_bootstrap(settings.resolve(settings.state.dir), args.url)
    except BootstrapUpdateError as exc:
        print(f"spoofguard: bootstrap not updated: {exc}", file=sys.stderr)
        return EXIT_TEMPFAIL
    print(f"{path}: {tlds} TLDs with RDAP service, published {publication or 'unknown'}")
    return 0


def _config_check(args: argparse.Namespace) -> int:
    settings = config.load(args.path)
    runtime = build_runtime(settings, offline=True)
    names = ", ".join(check.name for check in runtime.analyzer.checks)
    print(f"{settings.path}: OK ({len(settings.rule_files())} rule file(s); checks: {names})")
    return 0


def _config_signals(args: argparse.Namespace) -> int:
    """Each check's declared signals; the weight where its section sets one by that name."""
    settings = config.load(args.path)
    for name, plugin in plugins().items():
        section = settings.checks[name]
        print(f"[checks.{name}]" + ("" if section.enabled else " (disabled)"))
        for signal, meaning in plugin.signals.items():
            weight = _configured_weight(section, signal)
            print(f"  {name}.{signal}{'' if weight is None else f' {weight:+.1f}'}: {meaning}")
    return 0


def _configured_weight(section: object, signal: str) -> float | None:
    """``weights.<signal>``, else ``<signal>_weight``, else ``<last word>_weight``
    (``local_allow`` is weighed by ``allow_weight``)."""
    candidates = ((getattr(section, "weights", None), signal), (section, f"{signal}_weight"),
                  (section, f"{signal.rsplit('_', 1)[-1]}_weight"))
    for owner, field in candidates:
        value = getattr(owner, field, None)
        if isinstance(value, float):
            return value
    return None


def _check(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    envelope = Envelope(
        client_ip=args.client_ip,
        client_name=args.client_name,
        helo=args.helo,
        mail_from=args.mail_from,
        rcpts=list(args.rcpt),
        delivered=args.delivered,
    )
    message = Message.from_bytes(data, envelope, settings.analysis.body_limits())
    if envelope.mail_from is None:
        return_path = message.header("Return-Path")
        envelope.mail_from = strip_brackets(return_path) if return_path else None
    runtime = build_runtime(settings, offline=args.offline)
    session: LookupSession = runtime.new_session()
    verdict = judge(runtime.analyzer, message, session)
    changes = plan(verdict, message, runtime.actions)
    runtime.pool.shutdown()
    if args.json:
        out = {"path": args.file, **verdict.to_dict(), "headers": _header_changes(changes)}
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        _print_table(args.file, verdict, changes.quarantine if isinstance(changes, Deliver) else None)
    return check_exit_code(verdict, strict=args.strict)


def check_exit_code(verdict: Verdict, *, strict: bool = False) -> int:
    """The verdict's code (0 accept, 1 tag, 2 quarantine, 3 reject), even when some answers
    were missing: the verdict was formed and printed. 4 only where none could be formed
    (the message would be tempfailed) or, with ``strict``, when answers were missing."""
    if verdict.action is Action.TEMPFAIL or (strict and verdict.degraded):
        return EXIT_ERROR
    return EXIT_CODES[verdict.action]


def _header_changes(p: object) -> list[dict[str, object]]:
    changes = getattr(p, "header_changes", ())
    return [
        {"op": "add" if isinstance(c, AddHeader) else "change", "name": c.name, "value": c.value}
        for c in changes
    ]


def _print_table(path: str, verdict: Verdict, quarantine_reason: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"spoofguard check {path}", title_justify="left")
    table.add_column("signal")
    table.add_column("score", justify="right")
    table.add_column("kind")
    table.add_column("detail", overflow="fold")
    for s in verdict.signals:
        score = "unknown" if s.kind.value == "error" else f"{s.score:+.1f}"
        table.add_row(s.name, score, s.kind.value, s.detail)
    console.print(table)
    action = verdict.action.value
    if verdict.intended_action:
        action += f" (dry run; would {verdict.intended_action.value})"
    console.print(f"score {verdict.score:.1f} ({verdict.thresholds.describe()}) -> [bold]{action}[/bold]")
    console.print(f"reason: {verdict.reason}", markup=False, highlight=False)
    if quarantine_reason:
        console.print(f"quarantine reason: {quarantine_reason}", markup=False, highlight=False)
    if verdict.unscanned:
        console.print(verdict.unscanned, markup=False, highlight=False)
    if verdict.reason == NOT_JUDGED:
        console.print("note: this client counts as a local submission (loopback or authenticated) and is not "
                      "judged; give --client-ip of a remote host to judge it as inbound mail", markup=False,
                      highlight=False)
    missing = [s.name for s in verdict.signals if s.kind is SignalKind.ERROR]
    if missing:
        console.print(f"answers missing ({', '.join(missing)}): the verdict rests on less evidence and may "
                      "differ once they can be had", markup=False, highlight=False)


if __name__ == "__main__":
    sys.exit(main())
