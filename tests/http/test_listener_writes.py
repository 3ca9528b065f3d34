"""One write per response (http.listener.CoalescingTransport): the writes of one event-loop turn
reach the socket together, ``close`` sends what is kept, and answers on a kept-alive connection,
pipelined ones included, arrive whole and in order."""

from __future__ import annotations

import asyncio
import socket

from scimgate.http.listener import CoalescingTransport
from tests.http.test_surfaces import _read_response, head_of
from tests.support import Tenant


def test_the_writes_of_one_turn_reach_the_socket_as_one() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        theirs.setblocking(False)
        transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
        coalescing = CoalescingTransport(transport, loop)  # type: ignore[arg-type]
        coalescing.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        coalescing.write(b"")
        coalescing.write(b"ok")
        try:
            theirs.recv(4096)
            raise AssertionError("a write reached the socket within the turn")
        except BlockingIOError:
            pass
        await asyncio.sleep(0.05)
        assert theirs.recv(4096) == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
        coalescing.write(b"last words")
        coalescing.close()  # sends what is kept before closing
        await asyncio.sleep(0.05)
        theirs.setblocking(True)
        theirs.settimeout(5)
        assert theirs.recv(4096) == b"last words"
        assert theirs.recv(4096) == b""
        assert coalescing.is_closing()  # the wrapped transport's own answer
        theirs.close()

    asyncio.run(scenario())


def test_pipelined_requests_are_answered_whole_and_in_order(tenant: Tenant) -> None:
    user = tenant.create_user("pipelined@example.com")
    host, port = tenant.server.url.removeprefix("http://").split(":")
    auth = f"Authorization: Bearer {tenant.token}\r\n"
    requests = (f"GET /api/scim/v2/Users/{user['id']} HTTP/1.1\r\nHost: x\r\n{auth}\r\n"
                f"HEAD /api/scim/v2/Users/{user['id']} HTTP/1.1\r\nHost: x\r\n{auth}\r\n"
                "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                f"GET /api/scim/v2/Users/missing HTTP/1.1\r\nHost: x\r\n{auth}\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(requests)
        answers = _Answers(sock)  # answers may arrive together in one segment: split by length
        status, headers, body = answers.next()
        assert status == 200 and f'"id":"{user["id"]}"' in body.decode()
        assert int(headers["content-length"]) == len(body)
        status, headers, body = answers.next(body=False)  # a HEAD answer: a Content-Length, no body
        assert status == 200 and body == b"" and int(headers["content-length"]) > 0
        assert answers.next()[0] == 200
        status, _, body = answers.next()
        assert status == 404 and b'"status":"404"' in body
        assert answers.pending == b""


class _Answers:
    """The responses read from one connection, one after the other, however the bytes arrive."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.pending = b""

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, "the server closed the connection before answering"
        self.pending += chunk

    def next(self, *, body: bool = True) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.pending:
            self._more()
        head, _, self.pending = self.pending.partition(b"\r\n\r\n")
        status, headers, _ = head_of(head + b"\r\n\r\n")
        length = int(headers.get("content-length", "0")) if body else 0
        while len(self.pending) < length:
            self._more()
        content, self.pending = self.pending[:length], self.pending[length:]
        return status, headers, content


def test_a_client_that_half_closes_after_its_request_gets_its_answer(tenant: Tenant) -> None:
    """A client that shuts its sending side after the request (``printf ... | socat``) still
    gets the whole response: it is sent when complete, not a turn later, when the end of stream
    may already have closed the connection."""
    user = tenant.create_user("half.closed@example.com")
    host, port = tenant.server.url.removeprefix("http://").split(":")
    requests = [b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                (f"GET /api/scim/v2/Users/{user['id']} HTTP/1.1\r\nHost: x\r\n"
                 f"Authorization: Bearer {tenant.token}\r\n\r\n").encode()]
    for attempt in range(20):
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(requests[attempt % 2])
            sock.shutdown(socket.SHUT_WR)
            answer = _read_response(sock)
            assert answer, (attempt, tenant.server.log_path.read_text()[-3000:])
            status, headers, body = head_of(answer)
        assert status == 200 and int(headers["content-length"]) == len(body), attempt
    with socket.create_connection((host, int(port)), timeout=30) as sock:  # a body that never comes
        sock.sendall(b"POST /api/scim/v2/Users HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                     + f"Authorization: Bearer {tenant.token}\r\n\r\n".encode() + b'{"userName"')
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(65536) == b""  # closed at once, nothing is left waiting for it
