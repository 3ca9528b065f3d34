"""Test support for the admin pages: admin accounts made through the service, and a signed-in
HTTP client that keeps the session cookie and reads the CSRF token from the pages."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from click.testing import Result
from typer.testing import CliRunner

from scimgate.cli import app as cli_app
from scimgate.services import admins, workspaces
from scimgate.storage.db import transaction
from tests.support import LiveServer, Tenant

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_admin(tenant: Tenant, email: str | None = None, password: str = PASSWORD) -> str:
    """An admin account of the tenant's workspace (created through services.admins); its email."""
    email = email or f"admin-{uuid.uuid4().hex[:8]}@example.com"
    with transaction(tenant.server.sessions) as session:
        admins.create_admin(session, workspaces.find_workspace(session, tenant.workspace_id), email, password)
    return email


@dataclass
class AdminClient:
    """An httpx client on the server's origin that does not follow redirects."""

    server: LiveServer
    http: httpx.Client

    @classmethod
    def open(cls, server: LiveServer) -> AdminClient:
        return cls(server, httpx.Client(base_url=server.url, timeout=30, follow_redirects=False))

    def csrf(self, path: str = "/admin/security") -> str:
        """The CSRF token of the form on ``path``."""
        response = self.http.get(path)
        found = CSRF.search(response.text)
        assert found, f"no CSRF token on {path}: {response.status_code} {response.text[:300]}"
        return found.group(1)

    def login(self, workspace: str, email: str, password: str = PASSWORD) -> httpx.Response:
        token = self.csrf("/admin/login")
        return self.http.post("/admin/login", data={"csrf_token": token, "workspace": workspace,
                                                    "email": email, "password": password})

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str] | None = None, csrf: bool = True) -> httpx.Response:
        """POST a form, with the session's CSRF token unless ``csrf`` is False."""
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.csrf()
        return self.http.post(path, data=form)

    def close(self) -> None:
        self.http.close()


def signed_in(tenant: Tenant) -> AdminClient:
    """A client signed in as a new admin of the tenant's workspace."""
    client = AdminClient.open(tenant.server)
    response = client.login(tenant.workspace_name, make_admin(tenant))
    assert response.status_code == 303, response.text
    return client


def cli(server: LiveServer, *args: str, stdin: str = "") -> Result:
    """Run ``scimgate ARGS`` in-process (Typer's runner) on the server's database."""
    env = {"SCIMGATE_DATABASE_URL": server.database_url}
    return CliRunner().invoke(cli_app, list(args), input=stdin, env=env)
