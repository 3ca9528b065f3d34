"""The HTTP listener: bounds on a request head (URL length, header bytes, header count), and one
write per response.

uvicorn's httptools protocol buffers a request line and headers of any size before the app sees
them (an 8 MB header is served; four 48 MB headers cost 165 MB of memory). scimgate serves with
:class:`BoundedHttpToolsProtocol` (``scimgate serve``; ``uvicorn --http`` :data:`PROTOCOL`), which
refuses, before the head is complete and without reading further:

- a request target longer than :data:`MAX_URL_BYTES` with 414 URI Too Long (RFC 9110 §15.5.15);
- a head (request line and headers) over :data:`MAX_HEAD_BYTES`, or more than
  :data:`MAX_HEADERS` header fields, with 431 Request Header Fields Too Large (RFC 6585 §5).

The figures are those of common front ends (nginx reads a request line and each header into an
8 KiB buffer, Apache ``LimitRequestFieldSize`` 8190 and ``LimitRequestFields`` 100); the URL
bound is twice that, for long SCIM filters (RFC 7644 §3.4.3 points clients with longer queries
to ``POST /.search``). The refusal is in the surface's format as far as the URL shows it: SCIM
JSON (RFC 7644 §3.12) under ``/api/scim/v2``, the admin API's JSON under ``/api/admin/v1``, a
small HTML page under ``/admin``, else plain text; the connection is closed (``Connection:
close``), since the rest of the head is never read.

uvicorn writes a response's status line and headers, then its body, as two writes to the socket:
two system calls and, with ``TCP_NODELAY``, two segments, the first of which wakes the client
before the answer is there. :class:`CoalescingTransport` sends what one turn of the event loop
writes as one (docs/decisions.md, "One write per response": 12-14 % of the CPU of a GET by id
and of ``/healthz``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from scimgate.config import SCIM_PREFIX
from scimgate.scim.errors import ScimError, error_document

PROTOCOL = "scimgate.http.listener:BoundedHttpToolsProtocol"
"""The import string uvicorn takes as ``--http`` / ``http=``."""

MAX_URL_BYTES = 16 * 1024
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
ADMIN_API_PREFIX = "/api/admin/v1"
ADMIN_PAGES_PREFIX = "/admin"


class HeadRefused(Exception):
    """The request head broke a bound; ``status`` and ``detail`` say which."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def refusal(path: str, status: int, detail: str) -> tuple[bytes, bytes]:
    """(content type, body) of a listener refusal for a request to ``path`` (its surface's format)."""
    lowered = path.lower()
    if _under(lowered, SCIM_PREFIX.lower()):
        error = ScimError(detail=detail)
        error.status = status
        return b"application/scim+json", json.dumps(error_document(error)).encode()
    if _under(lowered, ADMIN_API_PREFIX):
        code = "uri_too_long" if status == 414 else "request_header_fields_too_large"
        body = {"error": {"status": status, "code": code, "detail": detail}}
        return b"application/json", json.dumps(body).encode()
    if _under(lowered, ADMIN_PAGES_PREFIX):
        page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{status} · scimgate'
                f"</title></head><body><h1>{status}</h1><p>{detail}</p>"
                '<p><a href="/admin/security">Back to the admin pages</a></p></body></html>')
        return b"text/html; charset=utf-8", page.encode()
    return b"text/plain; charset=utf-8", f"{detail}\n".encode()


class CoalescingTransport:
    """A connection's transport whose writes of one event-loop turn reach the socket as one write.

    ``write`` keeps the data and, on the first write of a turn, schedules :meth:`flush` for the
    next turn (``loop.call_soon``); ``close`` flushes first, and so does the protocol when a
    response is complete (:class:`BoundedHttpToolsProtocol`), so a response never waits for the
    next turn, in which the client's end of stream may already have closed the connection (a
    client that half-closes after its request). A response's head and body, which uvicorn
    writes one after the other without yielding, so leave as one ``send(2)``. Anything else
    (``is_closing``, flow control, ``get_extra_info``, ``abort``, which drops what is kept) is the
    wrapped transport's. Flow control still holds: the wrapped transport pauses the protocol
    when its buffer is full, one turn later than without this class."""

    __slots__ = ("_transport", "_loop", "_kept")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._kept: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._kept.append(data)
        if len(self._kept) == 1:
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Send what is kept now. A transport closing after the client's end of stream still
        sends it (as it would a write of its own then); one already closed drops it."""
        if not self._kept:
            return
        data = self._kept[0] if len(self._kept) == 1 else b"".join(self._kept)
        self._kept.clear()
        with contextlib.suppress(RuntimeError):  # uvloop: closed, nobody is left to read it
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the bounds of the module docstring, writing through a
    :class:`CoalescingTransport`."""

    _head_bytes = 0  # bytes received while the head is incomplete (held by the parser)
    _header_bytes = 0  # bytes of the headers parsed so far
    _awaiting_head = True
    _refused: HeadRefused | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    _peer_done = False  # the client shut its sending side (eof_received) with a request to answer

    def eof_received(self) -> bool:  # type: ignore[override]  # uvicorn's returns None: close
        """The client shut its sending side after its request (a half-close, RFC 9112 §9.6: it
        still reads the answer; ``printf ... | socat`` does it). uvicorn's protocol lets the
        transport close at once, and the answer of a request still running is then lost; here
        the connection stays open until the requests received are answered, then closes. With
        nothing in flight, or a request whose body is still incomplete (it never will be), it
        closes at once, as before."""
        cycle = self.cycle
        in_flight = (cycle is not None and not cycle.response_complete) or bool(self.pipeline)
        if not in_flight or (cycle is not None and cycle.more_body):
            return False
        self._peer_done = True
        return True

    def on_response_complete(self) -> None:
        """The response is written whole: send it now (CoalescingTransport.flush); close the
        connection after the last answer a half-closed client waits for."""
        transport = self.transport
        if isinstance(transport, CoalescingTransport):
            transport.flush()
        super().on_response_complete()
        if self._peer_done and not self.pipeline and not self.transport.is_closing():
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes, self._header_bytes, self._awaiting_head = 0, 0, True

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URL_BYTES:
            self._refuse(HeadRefused(414, f"The URL is longer than {MAX_URL_BYTES} bytes; send a long "
                                     "query as POST .search (RFC 7644 §3.4.3)."))

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) >= MAX_HEADERS:
            self._refuse(HeadRefused(431, f"The request has more than {MAX_HEADERS} header fields."))
        self._header_bytes += len(name) + len(value) + 4  # "name: value\r\n"
        if len(self.url) + self._header_bytes > MAX_HEAD_BYTES:
            self._refuse(self._head_too_large())
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._awaiting_head and self._refused is None and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refused = self._head_too_large()
                self.send_400_response("")

    @staticmethod
    def _head_too_large() -> HeadRefused:
        return HeadRefused(431, f"The request line and headers are larger than {MAX_HEAD_BYTES} bytes.")

    def _refuse(self, refused: HeadRefused) -> None:
        self._refused = refused
        raise refused  # the parser stops; uvicorn answers through send_400_response

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a head the parser gave up on; a broken bound answers its status."""
        refused = self._refused
        if refused is None:
            super().send_400_response(msg)
            return
        path = self.url.split(b"?", 1)[0].decode("latin-1")
        kind, body = refusal(path, refused.status, refused.detail)
        reason = b"URI Too Long" if refused.status == 414 else b"Request Header Fields Too Large"
        head = [b"HTTP/1.1 %d %s\r\n" % (refused.status, reason)]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head += [b"content-type: " + kind + b"\r\n", b"content-length: %d\r\n" % len(body),
                 b"connection: close\r\n", b"\r\n"]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
