"""The gateway's provider HTTP client against small loopback servers that answer in each framing."""

from __future__ import annotations

import asyncio

import pytest

from edgelearn.serve.providers.http import Pool, ProtocolError, Timeout


async def _serve(answers: list[bytes], close_after_each: bool = False, stall: bool = False):
    """A loopback server that answers each request with the next raw response in ``answers``."""
    seen: list[bytes] = []
    connections = 0

    async def handle(reader, writer):
        nonlocal connections
        connections += 1
        try:
            while answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length")), 0)
                seen.append(head + await reader.readexactly(length))
                if stall:
                    await asyncio.sleep(5)
                writer.write(answers.pop(0))
                await writer.drain()
                if close_after_each:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", seen, lambda: connections


def test_framings_keep_alive_and_a_stale_connection_retried():
    async def go():
        answers = [b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
                   b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nx-trailer: 1\r\n\r\n",
                   b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 0\r\ncontent-length: 2\r\n\r\n{}",
                   b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end"]
        server, url, seen, connections = await _serve(answers)
        pool = Pool(4)
        first = await pool.request("POST", url + "/v1/x?q=1", {"authorization": "Bearer k"}, b'{"a": 1}')
        assert (first.status_code, await first.aread()) == (200, b"hello")
        chunked = await pool.request("POST", url + "/v1/x", {}, b"{}")
        assert b"".join([p async for p in chunked.aiter_raw()]) == b"abcde"  # chunks that came together: one piece
        limited = await pool.request("POST", url + "/v1/x", {}, b"{}")
        assert limited.status_code == 429 and limited.headers["retry-after"] == "0" and await limited.aread() == b"{}"
        last = await pool.request("GET", url + "/v1/models", {}, b"")
        assert await last.aread() == b"until the end"
        assert connections() == 1  # one keep-alive connection for the first three
        assert seen[0].startswith(b"POST /v1/x?q=1 HTTP/1.1\r\n") and b"authorization: Bearer k" in seen[0]
        assert seen[0].endswith(b'\r\n\r\n{"a": 1}')
        server.close()

        # a server that closes every connection after answering, without saying so
        answers = [b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na", b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nb"]
        server, url, seen, connections = await _serve(answers, close_after_each=True)
        one = await pool.request("POST", url, {}, b"")
        assert await one.aread() == b"a"
        await asyncio.sleep(0.05)  # the server's close arrives while the connection idles in the pool
        two = await pool.request("POST", url, {}, b"")
        assert await two.aread() == b"b" and connections() == 2
        server.close()
        await pool.aclose()

    asyncio.run(go())


def test_cut_bodies_and_silence_are_errors():
    async def go():
        server, url, _, _ = await _serve([b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\nonly part"],
                                         close_after_each=True)
        pool = Pool(2)
        cut = await pool.request("POST", url, {}, b"")
        with pytest.raises(ProtocolError):
            await cut.aread()
        server.close()
        server, url, _, _ = await _serve([b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na"], stall=True)
        with pytest.raises(Timeout):
            await pool.request("POST", url, {}, b"", timeout=0.2)
        server.close()
        await pool.aclose()

    asyncio.run(go())


def test_a_compressed_body_is_decoded():
    import gzip

    async def go():
        packed = gzip.compress(b'{"ok": true}')
        answer = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n%s" % (len(packed), packed)
        server, url, _, _ = await _serve([answer])
        pool = Pool(2)
        response = await pool.request("POST", url, {}, b"")
        assert await response.aread() == b'{"ok": true}' and "content-encoding" not in response.headers
        server.close()
        await pool.aclose()

    asyncio.run(go())


def test_a_chunked_body_cut_at_every_byte_is_decoded_and_trailing_bytes_end_the_connection():
    async def go():
        body = b"5\r\nhello\r\n1;x=y\r\n \r\nA\r\n0123456789\r\n0\r\nx-trailer: 1\r\n\r\n"
        head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"

        async def handle(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(head)
            for i in range(len(body)):  # one byte a write: every read ends somewhere else
                writer.write(body[i:i + 1])
                await writer.drain()
                await asyncio.sleep(0.001)
            await reader.readuntil(b"\r\n\r\n")
            writer.write(head + body + b"garbage")  # bytes after the body's end
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        pool = Pool(2)
        first = await pool.request("POST", url, {}, b"")
        pieces = [p async for p in first.aiter_raw()]
        assert b"".join(pieces) == b"hello 0123456789" and len(pieces) > 3 and first.ended
        second = await pool.request("POST", url, {}, b"")
        assert b"".join([p async for p in second.aiter_raw()]) == b"hello 0123456789"
        origin = next(iter(pool._origins.values()))
        assert not origin.idle  # not kept: its next bytes were not a response
        server.close()
        await pool.aclose()

    asyncio.run(go())
