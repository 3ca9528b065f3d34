"""OIDC sign-in helpers: a tenant with a verified domain and an OIDC connection to an
in-process provider (src/scimgate/simulate/oidc_provider.py), configured by the CLI contract."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from scimgate.cli import app
from scimgate.simulate.oidc_provider import OidcProvider, ProviderUser
from tests.support import LiveServer, Tenant, make_tenant


@dataclass
class OidcTenant:
    """A tenant whose OIDC connection trusts ``provider``; ``domain`` is its verified domain."""

    tenant: Tenant
    provider: OidcProvider
    domain: str
    redirect_uri: str

    @property
    def server(self) -> LiveServer:
        return self.tenant.server

    def user(self, local: str, **fields: Any) -> ProviderUser:
        """A provider user ``local@domain`` who can sign in."""
        return self.provider.add_user(ProviderUser(f"{local}@{self.domain}", **fields))


def cli(server: LiveServer, *args: str) -> Any:
    """Run ``scimgate ARGS`` against the live server's database; loopback http issuers allowed."""
    return CliRunner().invoke(
        app,
        list(args),
        env={
            "SCIMGATE_DATABASE_URL": server.database_url,
            "SCIMGATE_PUBLIC_URL": server.url,
            "SCIMGATE_OIDC_ALLOW_LOOPBACK_HTTP": "1",
        },
    )


def configure(server: LiveServer, tmp_path: Path, workspace_id: str, provider: OidcProvider,
              *extra: str) -> Any:
    """``scimgate sso oidc add`` for ``provider`` (the secret in a file)."""
    secret_file = tmp_path / f"secret-{uuid.uuid4().hex[:6]}"
    secret_file.write_text(provider.client_secret + "\n")
    return cli(server, "sso", "oidc", "add", workspace_id, "--issuer", provider.issuer,
               "--client-id", provider.client_id, "--client-secret-file", str(secret_file), *extra)


def oidc_tenant(server: LiveServer, tmp_path: Path, *, shape: str = "okta", domain: str | None = None,
                lookup: str = "userName", algorithm: str = "RS256") -> OidcTenant:
    """A fresh tenant with ``domain`` verified and OIDC configured for a new provider."""
    domain = domain or f"{uuid.uuid4().hex[:10]}.example"
    tenant = make_tenant(server, domains=(domain,))
    provider = OidcProvider(shape, algorithm)
    result = configure(server, tmp_path, tenant.workspace_id, provider, "--lookup", lookup)
    assert result.exit_code == 0, result.output
    redirect_uri = f"{server.url}/sso/oidc/{tenant.workspace_id}/callback"
    assert f"Redirect URI: {redirect_uri}" in result.output
    provider.redirect_uris.add(redirect_uri)
    return OidcTenant(tenant, provider, domain, redirect_uri)


def browser() -> httpx.Client:
    """A member's browser: keeps cookies, does not follow redirects."""
    return httpx.Client(timeout=30, follow_redirects=False)


def authorize(oidc: OidcTenant, client: httpx.Client, email: str) -> str:
    """POST /login, then the provider's authorize endpoint; return the callback URL it sends
    the browser to."""
    response = client.post(oidc.server.url + "/login", data={"email": email})
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith(oidc.provider.issuer + "/authorize?"), location
    answer = client.get(location)
    assert answer.status_code == 302, answer.text
    callback = answer.headers["location"]
    assert callback.startswith(oidc.redirect_uri + "?"), callback
    return callback


def sign_in(oidc: OidcTenant, client: httpx.Client, email: str) -> httpx.Response:
    """The whole flow: /login, the provider, the callback on the live server."""
    return client.get(authorize(oidc, client, email))


def me(oidc: OidcTenant, client: httpx.Client) -> httpx.Response:
    return client.get(oidc.server.url + "/api/me")
