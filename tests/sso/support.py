"""SAML sign-in helpers: a tenant with a verified domain and a SAML connection to a TestIdp."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from scimgate.cli import app
from tests.sso_idp import TestIdp, TestUser
from tests.support import LiveServer, Tenant, make_tenant


@dataclass
class SsoTenant:
    """A tenant whose SAML connection trusts ``idp``; ``domain`` is its verified domain."""

    tenant: Tenant
    idp: TestIdp
    domain: str
    entity_id: str
    acs_url: str

    @property
    def server(self) -> LiveServer:
        return self.tenant.server


def cli(server: LiveServer, *args: str) -> Any:
    """Run ``scimgate ARGS`` against the live server's database."""
    return CliRunner().invoke(
        app, list(args), env={"SCIMGATE_DATABASE_URL": server.database_url, "SCIMGATE_PUBLIC_URL": server.url}
    )


def sso_tenant(
    server: LiveServer,
    tmp_path: Path,
    *,
    domain: str | None = None,
    lookup: str = "userName",
    idp: TestIdp | None = None,
) -> SsoTenant:
    """A fresh tenant with ``domain`` verified and SAML configured by the CLI contract."""
    domain = domain or f"{uuid.uuid4().hex[:10]}.example"
    tenant = make_tenant(server, domains=(domain,))
    idp = idp or TestIdp(f"https://idp-{uuid.uuid4().hex[:8]}.test/")
    metadata = tmp_path / f"idp-{uuid.uuid4().hex[:6]}.xml"
    metadata.write_text(idp.metadata_xml)
    result = cli(
        server, "sso", "saml", "add", tenant.workspace_id, "--metadata", str(metadata), "--lookup", lookup
    )
    assert result.exit_code == 0, result.output
    entity_id = f"{server.url}/sso/saml/{tenant.workspace_id}/metadata"
    acs_url = f"{server.url}/sso/saml/{tenant.workspace_id}/acs"
    assert f"SP entity ID: {entity_id}" in result.output and f"ACS URL: {acs_url}" in result.output
    sp_metadata = httpx.get(entity_id)
    assert sp_metadata.status_code == 200, sp_metadata.text
    idp.trust_sp(sp_metadata.text)
    return SsoTenant(tenant, idp, domain, entity_id, acs_url)


def browser() -> httpx.Client:
    """A member's browser: keeps cookies, does not follow redirects."""
    return httpx.Client(timeout=30, follow_redirects=False)


def start_login(sso: SsoTenant, client: httpx.Client, email: str) -> str:
    """POST /login with ``email``; return the AuthnRequest id the IdP reads from the redirect."""
    response = client.post(sso.server.url + "/login", data={"email": email})
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith(sso.idp.sso_url) and "SAMLRequest=" in location
    request_id, _ = sso.idp.read_request(location)
    return request_id


def post_acs(
    sso: SsoTenant, client: httpx.Client, saml_response: str, acs_url: str | None = None
) -> httpx.Response:
    """The IdP's auto-submitted form, posted to the ACS over HTTP."""
    return client.post(acs_url or sso.acs_url, data={"SAMLResponse": saml_response, "RelayState": ""})


def sign_in(
    sso: SsoTenant, client: httpx.Client, user: TestUser, *, shape: str = "entra", **response_options: Any
) -> httpx.Response:
    """The whole SP-initiated flow: /login, the IdP's answer, the ACS post."""
    request_id = start_login(sso, client, user.email)
    answer = sso.idp.response(
        user,
        sp_entity_id=sso.entity_id,
        acs_url=sso.acs_url,
        in_response_to=request_id,
        shape=shape,
        **response_options,
    )
    return post_acs(sso, client, answer)


def me(sso: SsoTenant, client: httpx.Client) -> httpx.Response:
    return client.get(sso.server.url + "/api/me")
