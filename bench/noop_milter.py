"""A pymilter milter that does nothing: the ceiling for bench/milter_load.py.

Whatever spoofguard costs per message is measured against this. Two shapes:

- ``eom-only``: every stage except end-of-message is switched off in negotiation (the
  ``Milter.Base`` callbacks are all ``@nocallback``), so the MTA sends one 'E' and waits
  for one answer: the cheapest a pymilter milter can be, and the shape spoofguard aims
  for (it keeps the stages it needs but marks them no-reply).
- ``every-step``: every stage is enabled and answered with CONTINUE, no no-reply flags:
  the ~24 round trips per message of a milter that negotiates nothing.

    .venv/bin/python bench/noop_milter.py --socket inet:8896@127.0.0.1 --mode eom-only

Runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

import Milter


class EomOnly(Milter.Base):  # type: ignore[misc]
    """Only eom is overridden; the inherited callbacks negotiate P_NO* for their stages."""

    def eom(self) -> int:
        return Milter.ACCEPT


class EveryStep(Milter.Base):  # type: ignore[misc]
    """Overriding a callback re-enables its stage and its reply: the MTA waits on each."""

    def connect(self, hostname: str, family: int, hostaddr: Any) -> int:
        return Milter.CONTINUE

    def hello(self, hostname: str) -> int:
        return Milter.CONTINUE

    def envfrom(self, mailfrom: str, *params: str) -> int:
        return Milter.CONTINUE

    def envrcpt(self, rcpt: str, *params: str) -> int:
        return Milter.CONTINUE

    def data(self) -> int:
        return Milter.CONTINUE

    def header(self, name: str, value: str) -> int:
        return Milter.CONTINUE

    def eoh(self) -> int:
        return Milter.CONTINUE

    def body(self, chunk: bytes) -> int:
        return Milter.CONTINUE

    def eom(self) -> int:
        return Milter.ACCEPT


MODES: dict[str, type[Milter.Base]] = {"eom-only": EomOnly, "every-step": EveryStep}


def serve(socket_name: str, mode: str, timeout: int = 600) -> int:
    """Run libmilter off the main thread so SIGTERM reaches Python (as spoofguard does)."""
    Milter.factory = MODES[mode]
    # Registers no modification actions; pymilter's negotiate still echoes the actions the
    # MTA offered, which costs nothing since none is ever used.
    Milter.set_flags(0)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            Milter.runmilter("noop", socket_name, timeout)
        except BaseException as exc:
            failure.append(exc)

    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker = threading.Thread(target=run, name="libmilter", daemon=True)
    worker.start()
    print(f"noop milter ({mode}) listening on {socket_name}", flush=True)
    while worker.is_alive() and not stopping.is_set():
        worker.join(0.2)
    # libmilter's stop() returns only after its listener's next poll, seconds later. A
    # milter with no state has nothing to finish, so main() exits the process instead.
    if failure:
        print(f"noop milter stopped: {failure[0]}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve until signalled; returns the exit status."""
    parser = argparse.ArgumentParser(description="A milter that accepts everything and does nothing else.")
    parser.add_argument("--socket", default="inet:8896@127.0.0.1", help="inet:PORT@HOST or unix:/path")
    parser.add_argument("--mode", choices=sorted(MODES), default="eom-only")
    parser.add_argument("--timeout", type=int, default=600, help="seconds libmilter waits on an idle MTA")
    args = parser.parse_args(argv)
    return serve(args.socket, args.mode, args.timeout)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # the libmilter thread may still sit in its poll: do not wait for it
