"""Each surface answers every error in its own format, and the listener bounds request heads
(http.surfaces, http.listener; ARCHITECTURE.md "Errors"; RFC 7644 §3.12, RFC 9110 §15.5.15,
RFC 6585 §5): SCIM JSON under /api/scim/v2, the admin API's JSON under /api/admin/v1, HTML pages
under /admin, plain text elsewhere. A 500 is logged once and leaves the connection usable."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from scimgate.http import listener
from tests.admin.client import signed_in
from tests.support import LiveServer, Tenant, admin_client


def assert_admin_api_error(response: httpx.Response, status: int) -> None:
    """The admin API's JSON error form for ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == status and error["code"] and error["detail"]


def assert_page(response: httpx.Response, status: int) -> None:
    """An HTML admin error page for ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().lower().startswith("<!doctype html>") and str(status) in response.text


def exchange(server: LiveServer, request: bytes, then: bytes | None = None) -> tuple[bytes, bytes | None]:
    """Send ``request`` on one connection and read its response; if ``then`` is given, send it on
    the same connection and read that response too (None when the server closed it)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
        with contextlib.suppress(OSError):  # the server answered and closed before reading it all
            sock.sendall(request)
        first = _read_response(sock)
        if then is None:
            return first, None
        try:
            sock.sendall(then)
            second = _read_response(sock)
        except OSError:
            return first, None
        return first, second or None


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def head_of(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((k.strip().lower(), v.strip()) for k, v in (line.split(":", 1) for line in lines[1:]))
    return int(lines[0].split()[1]), headers, body


@pytest.fixture
def admin_page(tenant: Tenant) -> Iterator[httpx.Client]:
    client = signed_in(tenant)
    yield client.http
    client.close()


# --- one format per surface ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/domains/%00", "/domains/x%00y/verify", "/members/%00/owned?x=1"])
def test_admin_api_nul_url_is_its_json(tenant: Tenant, path: str) -> None:
    """A NUL in an admin API URL is a 400 in the admin API's JSON, not plain text."""
    with admin_client(tenant) as client:
        assert_admin_api_error(client.get(path), 400)


def test_admin_api_too_large_body_is_its_json(tenant: Tenant) -> None:
    """A body over the limit under /api/admin/v1 is 413 in the admin API's JSON."""
    with admin_client(tenant) as client:
        assert_admin_api_error(client.post("/domains", content=b"{" + b" " * 2_000_000 + b"}",
                                           headers={"Content-Type": "application/json"}), 413)


@pytest.mark.parametrize("query", ["é" * 600, "名前" * 400, "ü" * 3000 + '"', "\\" * 900 + "ö"])
def test_admin_member_search_with_long_non_ascii_query_is_a_page(admin_page: httpx.Client,
                                                                 query: str) -> None:
    """A long non-ASCII members search answers an HTML page (the list, or an HTML 400), never SCIM JSON."""
    response = admin_page.get("/admin/members", params={"q": query})
    assert response.headers["content-type"].startswith("text/html"), response.text[:300]
    if response.status_code != 200:
        assert_page(response, response.status_code)
        assert 400 <= response.status_code < 500


@pytest.mark.parametrize("path", ["/admin/members?q=%00", "/admin/groups/%00"])
def test_admin_page_nul_url_is_an_html_page(admin_page: httpx.Client, path: str) -> None:
    """A NUL in an admin page URL is the HTML 400 page."""
    assert_page(admin_page.get(path), 400)


def test_admin_page_too_large_form_is_an_html_page(admin_page: httpx.Client) -> None:
    """A form body over the limit is the HTML 413 page."""
    response = admin_page.post("/admin/security/domains", content=b"name=" + b"a" * 2_000_000,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_page(response, 413)


# --- listener bounds ----------------------------------------------------------------------------


@pytest.mark.parametrize("where, check", [
    ("/api/scim/v2/Users", "scim"), ("/api/admin/v1/domains", "admin-api"), ("/admin/members", "page"),
    ("/healthz", "plain"),
])
@pytest.mark.parametrize("kind", ["one huge header", "many headers", "long URL"])
def test_request_head_bounds_answer_431_or_414_in_the_surface_format(
        tenant: Tenant, where: str, check: str, kind: str) -> None:
    """A head over the listener's bounds (4x MAX_HEAD_BYTES in one header; an 8 MB one is refused
    alike, read no further) is refused before it is read whole: 414 for a URL over
    MAX_URL_BYTES, 431 for more than MAX_HEAD_BYTES or MAX_HEADERS; ``Connection: close``."""
    target, headers = where, f"Host: x\r\nAuthorization: Bearer {tenant.token}\r\n"
    if kind == "one huge header":
        headers += "X-Big: " + "a" * (4 * listener.MAX_HEAD_BYTES) + "\r\n"
    elif kind == "many headers":
        headers += "".join(f"X-{i}: v\r\n" for i in range(listener.MAX_HEADERS + 5))
    else:
        target += "?filter=" + "a" * (100 * 1024)
    response, _ = exchange(tenant.server, f"GET {target} HTTP/1.1\r\n{headers}\r\n".encode())
    status, got, body = head_of(response)
    assert status == (414 if kind == "long URL" else 431)
    assert got["connection"] == "close"
    kind_of = got["content-type"]
    if check == "scim":
        assert kind_of == "application/scim+json"
        assert json.loads(body)["status"] == str(status)
    elif check == "admin-api":
        assert kind_of == "application/json" and json.loads(body)["error"]["status"] == status
    elif check == "page":
        assert kind_of.startswith("text/html") and str(status).encode() in body
    else:
        assert kind_of.startswith("text/plain") and body


def test_heads_within_the_bounds_are_served(tenant: Tenant) -> None:
    """A head just under the bounds (a 60 KB header, 90 fields, a 15 KB query) is served."""
    assert tenant.get("/Users", headers={"X-Pad": "a" * 60_000}).status_code == 200
    assert tenant.get("/Users", headers={f"X-{i}": "v" for i in range(90)}).status_code == 200
    response = tenant.get("/Users", params={"filter": 'userName eq "x@example.com"', "pad": "a" * 15_000})
    assert response.status_code == 200 and response.json()["totalResults"] == 0


# --- 500: once in the log, the connection kept ------------------------------------------------


def test_a_500_is_logged_once_and_keeps_the_connection(tenant: Tenant) -> None:
    """A database fault (the member table gone under a running server) is a 500 in SCIM form,
    logged once with its request id; the connection then serves the next request (or, were it
    closed, would say ``Connection: close``)."""
    server = tenant.server
    with server.sessions() as session:
        session.execute(text("ALTER TABLE member RENAME TO member_gone"))
        session.commit()
    try:
        request = (f"GET /api/scim/v2/Users HTTP/1.1\r\nHost: x\r\nX-Request-Id: fault-500-once\r\n"
                   f"Authorization: Bearer {tenant.token}\r\n\r\n").encode()
        health = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        first, second = exchange(server, request, then=health)
    finally:
        with server.sessions() as session:
            session.execute(text("ALTER TABLE member_gone RENAME TO member"))
            session.commit()
    status, headers, body = head_of(first)
    assert status == 500 and headers["content-type"] == "application/scim+json"
    assert json.loads(body)["detail"] == "Internal server error; request id fault-500-once."
    if second is None:
        assert headers.get("connection") == "close"
    else:
        assert head_of(second)[0] == 200
    logged = [json.loads(line) for line in Path(server.log_path).read_text().splitlines()
              if line.startswith("{")]
    errors = [entry for entry in logged if entry["level"] == "error"
              and (entry.get("request_id") == "fault-500-once" or "ASGI" in entry["message"])]
    assert len(errors) == 1 and errors[0]["request_id"] == "fault-500-once", errors
    assert tenant.get("/Users").status_code == 200


@pytest.mark.parametrize("path", ["/api/admin/v1", "/api/admin/v1/", "/API/admin/v1"])
def test_the_admin_apis_bare_prefix_is_its_json_404(tenant: Tenant, path: str) -> None:
    """The bare prefix and its trailing-slash variant: a JSON 404 at once (no 307 to follow)."""
    with admin_client(tenant) as api:
        response = api.get(path, follow_redirects=False)
    assert_admin_api_error(response, 404)


@pytest.mark.parametrize("path", ["/api/scim/v2", "/api/scim/v2/"])
def test_the_scim_bare_prefix_is_its_json_404(tenant: Tenant, path: str) -> None:
    response = tenant.client.get(tenant.server.url + path, follow_redirects=False)
    assert response.status_code == 404 and response.headers["content-type"] == "application/scim+json"
    assert response.json()["status"] == "404"


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/api/me", 401), ("GET", "/api/me/", 404), ("GET", "/api/me/groups", 404),
    ("POST", "/api/me", 405),
])
def test_api_me_answers_every_error_in_the_api_json(tenant: Tenant, method: str, path: str,
                                                     status: int) -> None:
    """/api/me's own 401, its trailing slash and its unknown paths and methods: one JSON error form."""
    response = httpx.request(method, tenant.server.url + path, follow_redirects=False)
    assert_admin_api_error(response, status)
    if status == 405:
        assert response.headers["allow"] == "GET, HEAD"


def test_a_zero_padded_content_length_is_read_as_its_number(tenant: Tenant) -> None:
    """``Content-Length: 000...02`` (5,000 zeros) is 2 (RFC 9110 §8.6 allows leading zeros): the
    request is answered in SCIM format and the connection serves the next one; a padded length
    over the limit is still 413."""
    request = (f"POST /api/scim/v2/Users HTTP/1.1\r\nHost: x\r\nContent-Length: {'0' * 5000}2\r\n"
               f"Authorization: Bearer {tenant.token}\r\n"
               "Content-Type: application/scim+json\r\n\r\n{}").encode()
    first, second = exchange(tenant.server, request, then=b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = head_of(first)
    assert status == 400 and headers["content-type"] == "application/scim+json", first[:300]
    assert second is not None and head_of(second)[0] == 200
    huge = (f"POST /api/scim/v2/Users HTTP/1.1\r\nHost: x\r\nContent-Length: {'0' * 5000}99999999\r\n"
            f"Authorization: Bearer {tenant.token}\r\n\r\n").encode()
    status, headers, _ = head_of(exchange(tenant.server, huge)[0])
    assert status == 413 and headers["content-type"] == "application/scim+json"
