"""The milter's listening socket: bound here for the workers, or found where libmilter or
systemd made it, tuned, and taken off the accept queue at shutdown.

libmilter has no call for "stop accepting but finish what you hold": smfi_stop() ends its
main loop, and pymilter then stops serving the connections still open (their callbacks
fail). So a stopping process first puts an unreachable listening socket in its listener's
descriptor (no new connections come to it), lets the open ones finish, and only then
calls smfi_stop().
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from collections.abc import Iterator


def listen(spec: str) -> socket.socket:
    """Bind ``inet:PORT@HOST``, ``inet6:PORT@HOST`` or ``unix:PATH`` as libmilter would:
    a stale unix socket is replaced, a file of another kind is not.

    The socket is non-blocking (and so is ``adopt``'s). Every worker's libmilter polls it
    and all wake for each connection; one accept() wins, and on a blocking socket the
    others would stay parked in accept() and take the next connection even after their
    worker was told to stop. Non-blocking, they get EAGAIN, which libmilter takes as "poll
    again". Accepted connections do not inherit the flag."""
    kind, _, rest = spec.partition(":")
    if kind == "unix":
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(rest).st_mode):
                os.unlink(rest)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(rest)
    else:
        port, _, host = rest.partition("@")
        family = socket.AF_INET6 if kind == "inet6" else socket.AF_INET
        address = socket.getaddrinfo(host or None, int(port), family, socket.SOCK_STREAM,
                                     flags=socket.AI_PASSIVE)[0][4]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    no_delay(sock)
    sock.listen(socket.SOMAXCONN)
    sock.setblocking(False)
    return sock


def adopt(connection: str) -> socket.socket:
    """The socket systemd passed (``fd:N``)."""
    sock = socket.socket(fileno=int(connection.removeprefix("fd:")))
    no_delay(sock)
    sock.setblocking(False)
    return sock


def no_delay(sock: socket.socket) -> None:
    """Nagle's algorithm off on a TCP listener (accepted connections inherit it).
    libmilter writes each header change as its own small packet; with Nagle on, the MTA's
    delayed ACK holds the next one back for up to 40 ms per message."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def tune(connection: str) -> bool:
    """``no_delay`` on the listener of ``connection`` in this process; False while there
    is none yet (libmilter opens it on its own thread)."""
    found = False
    for _fd, sock in _listeners(connection):
        no_delay(sock)
        found = True
    return found


def stop_accepting(connection: str) -> None:
    """Take this process off its listener at once: an unreachable listening socket (an
    autobound abstract unix address) is put in the descriptor's place. Other processes
    sharing the socket (workers) go on accepting; a process that held it alone closes it,
    so new connections are refused. libmilter's loop finds nothing more to accept. The
    stand-in must listen: libmilter takes a poll() error or a failed accept() as a fault
    and aborts the connections in progress."""
    for fd, _sock in _listeners(connection):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unreachable:
            unreachable.bind("")  # Linux: a fresh abstract address no one knows
            unreachable.listen(1)
            unreachable.setblocking(False)  # a poll() begun on the old socket may still wake an accept()
            os.dup2(unreachable.fileno(), fd)


def _listeners(connection: str) -> Iterator[tuple[int, socket.socket]]:
    """(descriptor, a socket object on a copy of it) for each listening socket of this
    process that serves ``connection``: ``fd:N``, or the address libmilter was given (the
    metrics endpoint listens in the same process and must be left alone)."""
    if connection.startswith("fd:"):
        candidates = [int(connection.removeprefix("fd:"))]
    else:
        candidates = [int(name) for name in os.listdir("/proc/self/fd") if name.isdigit()]
    for fd in candidates:
        try:
            copy = os.dup(fd)
        except OSError:
            continue
        try:
            sock = socket.socket(fileno=copy)
        except OSError:  # not a socket
            os.close(copy)
            continue
        with sock:
            try:
                listening = sock.type == socket.SOCK_STREAM and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                if listening and (connection.startswith("fd:") or _serves(sock, connection)):
                    yield fd, sock
            except OSError:
                continue


def _serves(sock: socket.socket, spec: str) -> bool:
    kind, _, rest = spec.partition(":")
    address = sock.getsockname()
    if kind == "unix":
        return sock.family == socket.AF_UNIX and address == rest
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    port, _, _host = rest.partition("@")
    return port.isdigit() and address[1] == int(port)
