"""A loopback-only HTTP proxy for agents under test: it tunnels to 127.0.0.1 and refuses any other host.

Given to an agent as ``HTTP(S)_PROXY``, it keeps a run on loopback (the agents phone home for update
checks, model catalogs and usage statistics) and records what was refused, for the test's output::

    with LoopbackProxy() as guard:
        env = {"HTTPS_PROXY": guard.url, ...}
        ...
        guard.refused   # ["registry.npmjs.org:443", ...]

Both proxy forms are served: ``CONNECT host:port`` (a tunnel) and absolute-form requests
(``POST http://127.0.0.1:8765/v1/... HTTP/1.1``), which are forwarded in origin form.
"""

from __future__ import annotations

import asyncio
import threading
from urllib.parse import urlsplit

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class LoopbackProxy:
    """The proxy on 127.0.0.1 and a free port, served from its own thread and event loop."""

    def __init__(self) -> None:
        self.port = 0
        self.refused: list[str] = []
        self.tunnelled: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackProxy:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True, name="netguard")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the loopback proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop = None

    def __enter__(self) -> LoopbackProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        server = loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        loop.run_forever()
        server.close()
        loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, version = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                rest = b""
            else:
                parts = urlsplit(target)
                host, port = parts.hostname or "", str(parts.port or 80)
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                rest = f"{method} {path} {version}".encode("latin-1") + head[head.index(b"\r\n"):]
            host = host.strip("[]")
            if host not in LOOPBACK:
                self.refused.append(f"{host}:{port}")
                writer.write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                await writer.drain()
                return
            self.tunnelled.append(f"{host}:{port}")
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", int(port))
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            else:
                up_writer.write(rest)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()
