"""``scimgate serve`` behind the TLS proxy of docs/deploy.md: X-Forwarded-Proto from the trusted
proxy address (SCIMGATE_FORWARDED_ALLOW_IPS) makes the admin session cookie Secure; the same
header from an address that is not a trusted proxy is ignored (issue 13, minor).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, wait_until_up

SCIMGATE = Path(sys.executable).parent / "scimgate"
DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
NGINX_VALUES = {"$scheme": "https", "$remote_addr": "203.0.113.9", "$host": "scim.example.com",
                "$request_id": "nginx-request-1"}
"""What nginx puts in each variable for a request that reached it over TLS from 203.0.113.9."""


def documented_proxy_headers() -> dict[str, str]:
    """The headers the nginx block of docs/deploy.md sets (``proxy_set_header``), filled in as
    nginx fills them."""
    block = DEPLOY.read_text().split("```nginx", 1)[1].split("```", 1)[0]
    found = re.findall(r"^\s*proxy_set_header\s+(\S+)\s+(\S+);", block, flags=re.MULTILINE)
    return {name: NGINX_VALUES[value] for name, value in found}


@pytest.fixture(params=["127.0.0.1", "192.0.2.10"], ids=["trusted-proxy", "untrusted-peer"])
def served(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[tuple[str, bool]]:
    """``scimgate serve`` trusting loopback (our requests come from it) or only another address;
    yields its URL and whether loopback is trusted."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SCIMGATE_DATABASE_URL": database_url, "SCIMGATE_PUBLIC_URL": url,
           "SCIMGATE_FORWARDED_ALLOW_IPS": request.param, "SCIMGATE_SECRET_KEY": "forwarded-test-key"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    output = tmp_path / "serve.log"
    with output.open("wb") as sink:
        process = subprocess.Popen([str(SCIMGATE), "serve", "--port", str(port)], env=env, stdout=sink,
                                   stderr=subprocess.STDOUT)
    try:
        wait_until_up(process, output, url + "/readyz", (200,))
        yield url, request.param == "127.0.0.1"
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_secure_cookie_only_behind_the_trusted_proxy(served: tuple[str, bool]) -> None:
    """X-Forwarded-Proto: https -> Secure cookie from the trusted proxy; ignored from anyone else."""
    url, trusted = served
    cookie = httpx.get(url + "/admin/login", headers={"X-Forwarded-Proto": "https"}).headers["set-cookie"]
    assert ("; secure" in cookie.lower()) is trusted
    plain = httpx.get(url + "/admin/login").headers["set-cookie"]
    assert "; secure" not in plain.lower()


def test_the_documented_nginx_block_gives_a_secure_cookie(served: tuple[str, bool]) -> None:
    """The headers docs/deploy.md's nginx block sets, from the proxy address scimgate trusts,
    make the session cookie Secure (and only from a trusted proxy)."""
    url, trusted = served
    headers = documented_proxy_headers()
    assert headers["X-Forwarded-Proto"] == "https" and headers["X-Forwarded-For"] == "203.0.113.9"
    cookie = httpx.get(url + "/admin/login", headers=headers).headers["set-cookie"]
    assert ("; secure" in cookie.lower()) is trusted
