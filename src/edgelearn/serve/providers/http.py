"""The gateway's HTTP/1.1 client for provider calls: keep-alive pools on asyncio streams.

Not httpx on this path: its request pipeline (httpcore over anyio) cost more CPU per call than the
rest of the gateway together (bench/RESULTS.md, gateway). What it covers is what providers need:
http and https (certifi's roots), ``content-length``, chunked and read-until-close bodies, per-read
timeouts, a connection limit per origin, and a stale pooled connection retried once on a fresh one.
It does not follow redirects. ``HTTP(S)_PROXY`` and ``NO_PROXY`` are honoured (``proxy_env``).
TCP_NODELAY is set on every connection.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import AsyncIterator
from urllib.parse import urlsplit

from edgelearn.serve.providers import proxy_env

READ_SIZE = 65536
MAX_HEAD = 1 << 20


class HTTPError(Exception):
    """A transport failure: the provider could not be reached or its answer was cut or garbled."""


class ConnectError(HTTPError):
    pass


class Timeout(HTTPError):
    pass


class ProtocolError(HTTPError):
    pass


_ssl_context: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    global _ssl_context
    if _ssl_context is None:
        try:
            import certifi

            _ssl_context = ssl.create_default_context(cafile=certifi.where())
        except ImportError:  # the system's roots
            _ssl_context = ssl.create_default_context()
    return _ssl_context


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reused: bool = False

    def close(self) -> None:
        self.writer.transport.abort()


@dataclass
class _Origin:
    scheme: str
    host: str
    port: int
    limit: asyncio.Semaphore
    idle: deque[_Conn] = field(default_factory=deque)
    proxy: proxy_env.Proxy | None = None
    # an http origin behind a proxy: requests name the absolute URL and carry the proxy's credentials
    forward: str = ""
    proxy_lines: tuple[str, ...] = ()


class Response:
    """A provider's response: status and headers read; the body read by ``aread`` or ``aiter_raw``."""

    def __init__(self, status_code: int, headers: dict[str, str], conn: _Conn, origin: _Origin,
                 timeout: float, no_body: bool) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = b""
        self._conn: _Conn | None = conn
        self._origin = origin
        self._timeout = timeout
        self._keep = headers.get("connection", "").lower() != "close"
        length = headers.get("content-length")
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._left = 0 if no_body else (int(length) if length is not None and not self._chunked else -1)
        self._done = self._left == 0 and not self._chunked

    @property
    def is_closed(self) -> bool:
        return self._conn is None

    @property
    def ended(self) -> bool:
        """The whole body has arrived: the piece last taken from ``aiter_raw`` was its end."""
        return self._done

    async def aread(self) -> bytes:
        """The whole body, decoded when the server compressed it although asked not to."""
        content = b"".join([piece async for piece in self.aiter_raw()])
        encoding = self.headers.get("content-encoding", "identity").lower()
        if encoding in ("gzip", "deflate") and content:
            try:
                content = zlib.decompress(content, 47 if encoding == "gzip" else 15)
            except zlib.error as exc:
                raise ProtocolError(f"a {encoding} body that does not decode: {exc}") from exc
            self.headers.pop("content-encoding", None)
        self.content = content
        return content

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive, chunked framing removed: one piece per network read, so
        chunks that arrived together come as one (a relay then writes them to its client at once)."""
        conn = self._conn
        if conn is None:
            return
        reader = conn.reader
        try:
            if self._chunked:
                async for piece in self._dechunked(reader):
                    yield piece
            elif self._left > 0:
                while self._left:
                    piece = await self._read(reader.read(min(self._left, READ_SIZE)))
                    if not piece:
                        raise ProtocolError("the provider closed the connection before the body's end")
                    self._left -= len(piece)
                    yield piece
            elif self._left < 0:  # no length: the body ends when the connection does
                self._keep = False
                while piece := await self._read(reader.read(READ_SIZE)):
                    yield piece
            self._done = True
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise ProtocolError(f"malformed or cut response body: {type(exc).__name__}") from exc
        except OSError as exc:
            raise ProtocolError(f"connection lost: {type(exc).__name__}") from exc
        finally:
            self._release()

    async def _dechunked(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        """A chunked body's data, decoded from whatever each read brought (raises ValueError on bad framing)."""
        buffer = b""
        left = 0         # data bytes of the current chunk still to come
        crlf = False     # the CRLF closing a chunk's data is next
        trailers = False  # the last chunk was read: trailer lines up to an empty one are next
        while True:
            out, at = [], 0
            while True:
                if left:
                    data = buffer[at:at + left]
                    out.append(data)
                    left -= len(data)
                    at += len(data)
                    if left:
                        break
                    crlf = True
                if crlf:
                    if len(buffer) - at < 2:
                        break
                    if buffer[at:at + 2] != b"\r\n":
                        raise ValueError("a chunk longer than its size")
                    at, crlf = at + 2, False
                if trailers:
                    if buffer.startswith(b"\r\n", at):
                        end = at + 2
                    elif (end := buffer.find(b"\r\n\r\n", at)) >= 0:
                        end += 4
                    else:
                        break
                    if len(buffer) > end:  # bytes after the body's end: the connection is not reused
                        self._keep = False
                    self._done = True  # known before the last piece is taken (``ended``)
                    if out:
                        yield b"".join(out)
                    return
                end = buffer.find(b"\r\n", at)
                if end < 0:
                    break
                left = int(buffer[at:end].split(b";", 1)[0].strip() or b"0", 16)
                if left < 0:
                    raise ValueError("a negative chunk size")
                at = end + 2
                trailers = left == 0
            buffer = buffer[at:]
            if len(buffer) > MAX_HEAD:
                raise ValueError("a chunk size line or trailers without end")
            if out and (piece := b"".join(out)):
                yield piece
            more = await self._read(reader.read(READ_SIZE))
            if not more:
                raise ProtocolError("the provider closed the connection inside a chunked body")
            buffer += more

    async def _read(self, awaitable):
        try:
            async with asyncio.timeout(self._timeout):
                return await awaitable
        except TimeoutError as exc:
            raise Timeout(f"no data for {self._timeout:g} s") from exc

    async def aclose(self) -> None:
        self._release()

    def __del__(self) -> None:
        # a response dropped unread (a stream whose client left before it began): free its slot
        if self._conn is not None:
            self._done = False
            self._release()

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._done and self._keep:
            self._origin.idle.append(conn)
        else:
            conn.close()
        self._origin.limit.release()


class Pool:
    """Keep-alive connections per origin, at most ``max_connections`` each."""

    def __init__(self, max_connections: int = 100) -> None:
        self.max_connections = max_connections
        self._origins: dict[tuple[str, str, int], _Origin] = {}
        self._proxies = proxy_env.from_environ()

    def _origin(self, scheme: str, host: str, port: int) -> _Origin:
        key = (scheme, host, port)
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = _Origin(scheme, host, port, asyncio.Semaphore(self.max_connections))
            origin.proxy = self._proxies.for_origin(scheme, host, port)
            if origin.proxy is not None and scheme == "http":
                name = f"[{host}]" if ":" in host else host
                authority = name if port == 80 else f"{name}:{port}"
                origin.forward, origin.proxy_lines = f"http://{authority}", origin.proxy.header_lines()
        return origin

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes = b"",
                      timeout: float = 600.0, connect_timeout: float = 10.0) -> Response:
        """Send one request; returns once the status and headers have arrived."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectError(f"not an http(s) URL: {url}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        origin = self._origin(parts.scheme, parts.hostname, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = port == (443 if parts.scheme == "https" else 80)
        host = parts.hostname if default_port else f"{parts.hostname}:{port}"
        lines = [f"{method} {origin.forward}{target} HTTP/1.1", f"host: {host}", f"content-length: {len(body)}",
                 *origin.proxy_lines, *(f"{k}: {v}" for k, v in headers.items())]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        try:
            async with asyncio.timeout(connect_timeout):
                await origin.limit.acquire()
        except TimeoutError as exc:
            raise Timeout(f"no free connection to {parts.hostname} in {connect_timeout:g} s") from exc
        try:
            while True:
                conn = await self._connect(origin, connect_timeout)
                try:
                    return await self._exchange(conn, origin, data, timeout, method == "HEAD")
                except _Stale:
                    continue  # an idle connection the provider had closed: a fresh one, same request
        except BaseException:
            origin.limit.release()
            raise

    async def _connect(self, origin: _Origin, connect_timeout: float) -> _Conn:
        while origin.idle:
            conn = origin.idle.pop()
            if not conn.writer.transport.is_closing() and not conn.reader.at_eof():
                conn.reused = True
                return conn
            conn.close()
        try:
            async with asyncio.timeout(connect_timeout):
                if origin.proxy is not None:
                    reader, writer = await proxy_env.open_via(origin.proxy, origin.scheme, origin.host, origin.port,
                                                              limit=MAX_HEAD, tls=_tls())
                else:
                    reader, writer = await asyncio.open_connection(
                        origin.host, origin.port, limit=MAX_HEAD,
                        ssl=_tls() if origin.scheme == "https" else None,
                        server_hostname=origin.host if origin.scheme == "https" else None)
        except TimeoutError as exc:
            raise Timeout(f"connecting to {origin.host}:{origin.port} took over {connect_timeout:g} s") from exc
        except proxy_env.ProxyRefused as exc:
            raise ConnectError(str(exc)) from exc
        except OSError as exc:
            raise ConnectError(f"cannot connect to {origin.host}:{origin.port}: {type(exc).__name__}") from exc
        sock = writer.get_extra_info("socket")
        if sock is not None:  # without it, a reused connection stalls ~40 ms (Nagle + delayed ACK)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Conn(reader, writer)

    async def _exchange(self, conn: _Conn, origin: _Origin, data: bytes, timeout: float,
                        no_body: bool) -> Response:
        try:
            conn.writer.write(data)
            async with asyncio.timeout(timeout):
                while True:
                    head = await conn.reader.readuntil(b"\r\n\r\n")
                    status, headers = _parse_head(head)
                    if status >= 200:
                        break
        except TimeoutError as exc:
            conn.close()
            raise Timeout(f"no response in {timeout:g} s") from exc
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            conn.close()
            if conn.reused and not getattr(exc, "partial", b""):
                raise _Stale from exc
            raise ProtocolError(f"the provider closed the connection: {type(exc).__name__}") from exc
        except (asyncio.LimitOverrunError, ValueError, OSError) as exc:
            conn.close()
            raise ProtocolError(f"malformed response: {type(exc).__name__}") from exc
        except BaseException:  # cancelled (the client went away): the connection is in an unknown state
            conn.close()
            raise
        return Response(status, headers, conn, origin, timeout, no_body or status in (204, 304))

    async def aclose(self) -> None:
        for origin in self._origins.values():
            while origin.idle:
                origin.idle.pop().close()


class _Stale(Exception):
    pass


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    version, status, *_ = lines[0].split(" ", 2)
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1 status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return int(status), headers
