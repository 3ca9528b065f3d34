"""A real webhook receiver on loopback for the events tests: verifies every request's Standard
Webhooks signature with ``standardwebhooks.Webhook`` and records what it got and answered.

``status`` is what it answers (set 503 to play "down"); ``delay`` makes it slow; ``in_flight``
counts requests per ``webhook-id`` being handled at once (two at once means two deliverers sent
the same delivery together).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    """One request: its headers (lower-cased), body, whether a known secret verified it, what was answered."""

    headers: dict[str, str]
    body: dict[str, Any]
    verified_with: list[str]
    answered: int


@dataclass
class Receiver:
    url: str
    secrets: list[str] = field(default_factory=list)
    status: int = 204
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    overlaps: int = 0
    _in_flight: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, headers: dict[str, str], raw: bytes) -> int:
        message_id = headers.get("webhook-id", "")
        with self._lock:
            self._in_flight[message_id] = self._in_flight.get(message_id, 0) + 1
            if self._in_flight[message_id] > 1:
                self.overlaps += 1
            answer = self.status
        try:
            if self.delay:
                time.sleep(self.delay)
            verified = []
            for secret in list(self.secrets):
                try:
                    Webhook(secret).verify(raw, headers)
                    verified.append(secret)
                except WebhookVerificationError:
                    pass
            with self._lock:
                self.received.append(Received(headers, json.loads(raw), verified, answer))
            return answer
        finally:
            with self._lock:
                self._in_flight[message_id] -= 1

    def delivered(self) -> list[Received]:
        """The requests answered with a 2xx, in arrival order."""
        with self._lock:
            return [r for r in self.received if 200 <= r.answered < 300]

    def wait_for(self, count: int, seconds: float = 60) -> list[Received]:
        """The delivered requests once ``count`` distinct webhook-ids were delivered (or after
        ``seconds``: the caller's assertion then says what is missing)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            done = self.delivered()
            if len({r.headers["webhook-id"] for r in done}) >= count:
                return done
            time.sleep(0.05)
        return self.delivered()


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 (a free port), stopped on exit."""
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            status = holder[0].handle({k.lower(): v for k, v in self.headers.items()}, raw)
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
