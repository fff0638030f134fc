"""A socketserver on a free loopback port, answering from a daemon thread while a
``with`` block runs: the base of the tests' RDAP and WHOIS servers."""

from __future__ import annotations

import socketserver
import threading
from typing import Self


class BackgroundServer:
    port: int

    def _serve(self, server: socketserver.BaseServer, name: str) -> None:
        """Adopt ``server`` (already bound to 127.0.0.1:0); it starts with the block."""
        self._server = server
        self.port = int(server.server_address[1])  # type: ignore[index]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(2)
