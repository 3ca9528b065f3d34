"""``scimgate serve --workers 2``: metrics merged over workers; in-flight requests finish on SIGTERM.

Issue 3 §3 and §5.

These exercise the command, uvicorn and prometheus-client, not the database, so they run on
SQLite only (the database behaviour under several workers is in test_concurrency.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.production.prometheus import metric_value
from tests.support import SCIM_PREFIX, free_port, wait_until_up

SCIMGATE = Path(sys.executable).parent / "scimgate"


@dataclass
class Served:
    """A ``scimgate serve`` process, its URL, the token it printed and its metrics folder."""

    process: subprocess.Popen[bytes]
    url: str
    token: str
    metrics_dir: Path
    output: Path


def start_serve(tmp_path: Path, workers: int, public_url: bool = True) -> Served:
    """Run ``scimgate serve`` on a fresh SQLite database and wait until it is ready (with
    ``SCIMGATE_PUBLIC_URL`` set to its own address unless ``public_url`` is false)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    metrics_dir = tmp_path / "metrics"
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({
        "SCIMGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "SCIMGATE_PUBLIC_URL": url,
        "SCIMGATE_RATE_LIMIT_PER_SECOND": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "PYTHONUNBUFFERED": "1",
    })
    if not public_url:
        env.pop("SCIMGATE_PUBLIC_URL")
    output = tmp_path / "serve.log"
    with output.open("wb") as sink:
        process = subprocess.Popen([str(SCIMGATE), "serve", "--port", str(port), "--workers", str(workers)],
                                   env=env, stdout=sink, stderr=subprocess.STDOUT)
    wait_until_up(process, output, url + "/readyz", (200,))
    found = re.search(r"SCIM bearer token \(shown once\): (\S+)", output.read_text())
    assert found, output.read_text()
    return Served(process, url, found.group(1), metrics_dir, output)


def stop(served: Served) -> None:
    if served.process.poll() is None:
        served.process.terminate()
        try:
            served.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            served.process.kill()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    started = start_serve(tmp_path, workers=2)
    yield started
    stop(started)


def test_metrics_merge_every_worker(served: Served) -> None:
    """With 2 workers /metrics counts every request, whichever worker served it (multiprocess mode)."""
    headers = {"Authorization": f"Bearer {served.token}"}
    for _ in range(30):  # a new connection each time, so the kernel may hand it to either worker
        assert httpx.get(served.url + SCIM_PREFIX + "/Schemas", headers=headers).status_code == 200
    metrics = httpx.get(served.url + "/metrics").text
    assert metric_value(metrics, "scimgate_http_requests_total", resource="Schemas", method="GET",
                        status="200") == 30
    assert any(served.metrics_dir.glob("counter_*.db"))


def test_sigterm_lets_in_flight_request_finish(served: Served) -> None:
    """A request whose body is still arriving when SIGTERM comes is answered, then the server exits."""
    body = json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                       "userName": "inflight@example.com"}).encode()
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as conn:
        conn.sendall((f"POST {SCIM_PREFIX}/Users HTTP/1.1\r\nHost: {host}\r\n"
                      f"Authorization: Bearer {served.token}\r\nContent-Type: application/scim+json\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:10])
        time.sleep(2)  # let the worker parse the headers and start the request
        served.process.send_signal(signal.SIGTERM)
        time.sleep(1)
        conn.sendall(body[10:])
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    assert served.process.wait(timeout=60) == 0


def test_startup_warns_without_public_url_and_hints_carry_the_database(tmp_path: Path) -> None:
    """Without SCIMGATE_PUBLIC_URL the Base URL is http://127.0.0.1 and startup says Entra needs a
    public HTTPS URL; the commands it suggests carry the server's SCIMGATE_DATABASE_URL and port."""
    started = start_serve(tmp_path, workers=1, public_url=False)
    try:
        output = started.output.read_text()
    finally:
        stop(started)
    port = started.url.rsplit(':', 1)[1]
    assert f"SCIM Base URL: http://127.0.0.1:{port}" in output
    assert "SCIMGATE_PUBLIC_URL is not set" in output and "public HTTPS URL" in output
    database = f"SCIMGATE_DATABASE_URL=sqlite:///{tmp_path / 'serve.db'}"
    assert f"{database} SCIMGATE_PORT={port} {SCIMGATE} workspace allow-any-domain Default off" in output
