"""The addresses the CLI prints follow the configured server (issue 17): ``admin create`` names
the sign-in page of ``SCIMGATE_PUBLIC_URL``, or of ``SCIMGATE_HOST``/``SCIMGATE_PORT`` without
it (not a fixed port 8000); ``serve`` prints the admin pages and the member sign-in page too."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scimgate.cli import app


def _admin_create(tmp_path: Path, **env: str) -> str:
    base = {"SCIMGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", **env}
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=base).exit_code == 0
    runner.invoke(app, ["workspace", "create", "Acme"], env=base)
    done = runner.invoke(app, ["admin", "create", "ada@example.com", "--workspace", "Acme",
                               "--password-stdin"], env=base, input="correct horse battery staple\n")
    assert done.exit_code == 0, done.output
    return done.output


@pytest.mark.parametrize(("env", "url"), [
    ({"SCIMGATE_PORT": "8080"}, "http://127.0.0.1:8080/admin/login"),
    ({"SCIMGATE_PORT": "9001", "SCIMGATE_HOST": "0.0.0.0"}, "http://127.0.0.1:9001/admin/login"),
    ({"SCIMGATE_PORT": "8080", "SCIMGATE_PUBLIC_URL": "https://scim.example.org/"},
     "https://scim.example.org/admin/login"),
    ({}, "http://127.0.0.1:8000/admin/login"),
])
def test_admin_create_names_the_configured_address(tmp_path: Path, env: dict[str, str], url: str) -> None:
    assert f"sign in at {url}\n" in _admin_create(tmp_path, **env)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_prints_the_admin_pages_and_the_sign_in_page(tmp_path: Path) -> None:
    """``scimgate serve --port P``: the start message gives /admin and /login on that port, and
    commands to paste elsewhere carry the port; the server is stopped as soon as the message is
    read."""
    port = _free_port()
    env = {**os.environ, "SCIMGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}
    env.pop("SCIMGATE_PUBLIC_URL", None)
    command = [sys.executable, "-c", "from scimgate.cli import app; app()", "serve", "--port", str(port)]
    server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        lines = []
        for line in server.stdout:
            lines.append(line)
            if line.startswith("SCIM bearer token"):
                break
        printed = "".join(lines)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert f"SCIM Base URL: http://127.0.0.1:{port}/api/scim/v2\n" in printed
    assert f"Admin pages: http://127.0.0.1:{port}/admin (make an account with: " in printed
    assert "admin create <email> --workspace <workspace>)" in printed
    # the command to paste into another shell carries the port, so what it prints (sign-in link,
    # SAML entity ID and ACS URL) is this server's address, not the default port's
    assert f"SCIMGATE_PORT={port} scimgate admin create" in printed
    assert f"Member sign-in (SSO): http://127.0.0.1:{port}/login\n" in printed
