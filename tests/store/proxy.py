"""A loopback TCP forwarder whose availability a test controls, to fake database outages.

``TcpProxy(port)`` binds 127.0.0.1 on a free port *without listening*, so
connections are refused (the database looks down) until :meth:`up`.
:meth:`cut` closes every open connection and closes new ones at once (the
server went away mid-flight); :meth:`up` again restores service. Only
loopback traffic, bounded by the test's lifetime; :meth:`close` stops it.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    """Forward 127.0.0.1:<port> to 127.0.0.1:<target_port>, switchable down/up/cut."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._serving = False
        self._listening = False
        self._stopped = False
        self.accepted = 0

    def up(self) -> None:
        """Start (or resume) forwarding."""
        with self._lock:
            self._serving = True
            if not self._listening:
                self._listening = True
                self._listener.listen(64)
                self._listener.settimeout(0.1)
                threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Drop every open connection and refuse service until :meth:`up`."""
        with self._lock:
            self._serving = False
            conns, self._open = list(self._open), set()
        for s in conns:
            _kill(s)

    def close(self) -> None:
        self._stopped = True
        self.cut()
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                serving = self._serving
            if not serving:
                _kill(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _kill(client)
                continue
            with self._lock:
                self.accepted += 1
                self._open.update((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        src.settimeout(None)
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        _kill(src)
        _kill(dst)


def _kill(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()
