"""tests/sso_idp.TestIdp served over HTTP on loopback, so a real browser can go through it.

- ``GET /sso/redirect?SAMLRequest=...`` (the SP's HTTP-Redirect AuthnRequest): a sign-in page
  with one field, the email, and the request id in a hidden field;
- ``POST /sso/answer`` (email, request id): the HTTP-POST binding's page (SAML 2.0 Bindings
  §3.5.4): a form carrying the signed, Entra-shaped ``SAMLResponse`` to the ACS, with a
  "Continue" button (no script: the test clicks it).

The object id of each email is fixed for the server's life, like an Entra user's.
"""

from __future__ import annotations

import html
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from tests.sso_idp import TestIdp, TestUser
from tests.support import free_port

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>{body}</body></html>"""


class BrowserIdp:
    """The IdP and what it needs to answer: the SP's entity ID and ACS URL (set by the test)."""

    def __init__(self, port: int) -> None:
        self.idp = TestIdp(f"http://127.0.0.1:{port}/")
        self.sp_entity_id = self.acs_url = ""
        self.object_ids: dict[str, str] = {}

    def login_page(self, url: str) -> str:
        request_id, _ = self.idp.read_request(url)
        body = (f'<form method="post" action="/sso/answer"><input type="hidden" name="request_id" '
                f'value="{html.escape(request_id)}"><label for="email">Email</label>'
                '<input id="email" name="email" type="email"><button type="submit">Sign in</button></form>')
        return PAGE.format(title="Test identity provider", body=body)

    def answer_page(self, email: str, request_id: str) -> str:
        object_id = self.object_ids.setdefault(email.lower(), str(uuid.uuid4()))
        answer = self.idp.response(TestUser(email, object_id), sp_entity_id=self.sp_entity_id,
                                   acs_url=self.acs_url, in_response_to=request_id)
        body = (f'<form method="post" action="{html.escape(self.acs_url)}"><input type="hidden" '
                f'name="SAMLResponse" value="{answer}"><button type="submit">Continue</button></form>')
        return PAGE.format(title="Signed in at the test identity provider", body=body)


@contextmanager
def browser_idp() -> Iterator[BrowserIdp]:
    """A BrowserIdp served on a free loopback port for the duration of the block."""
    port = free_port()
    served = BrowserIdp(port)

    class Handler(BaseHTTPRequestHandler):
        def _send(self, text: str, status: int = 200) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            try:
                self._send(served.login_page(f"http://127.0.0.1:{port}{self.path}"))
            except Exception as exc:  # a malformed request: the page says so
                self._send(PAGE.format(title="Bad request", body=html.escape(repr(exc))), 400)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            self._send(served.answer_page(form["email"][0], form["request_id"][0]))

        def log_message(self, *_args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
