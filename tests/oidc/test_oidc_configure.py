"""`scimgate sso oidc add`: the discovery document is read from the issuer and checked before
anything is stored (OpenID Connect Discovery 1.0 §4.3); refused with a message saying why."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from scimgate.cli import app
from scimgate.simulate.oidc_provider import OidcProvider
from scimgate.storage.models import SsoConnection
from tests.oidc.support import configure
from tests.support import LiveServer, make_tenant

REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "issuer mismatch": ({"issuer": "https://login.example/other"}, "names the issuer"),
    "http endpoint off loopback": (
        {"token_endpoint": "http://idp.example/token"}, "no usable https token_endpoint"),
    "no code flow": ({"response_types_supported": ["id_token"]}, "authorization code flow"),
    "no PKCE S256": ({"code_challenge_methods_supported": ["plain"]}, "PKCE with S256"),
    "only HMAC ID tokens": ({"id_token_signing_alg_values_supported": ["HS256", "none"]}, "signs ID tokens"),
    "no client secret method": (
        {"token_endpoint_auth_methods_supported": ["private_key_jwt"]}, "accepts no client secret"),
}


def connection_of(server: LiveServer, workspace_id: str) -> SsoConnection | None:
    with server.sessions() as session:
        return session.scalar(select(SsoConnection).where(SsoConnection.workspace_id == workspace_id))


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_discovery_is_refused(live_server: LiveServer, tmp_path: Path, case: str) -> None:
    overrides, message = REFUSED[case]
    tenant = make_tenant(live_server, domains=(f"{uuid.uuid4().hex[:10]}.example",))
    provider = OidcProvider()
    provider.discovery_overrides = overrides
    result = configure(live_server, tmp_path, tenant.workspace_id, provider)
    assert result.exit_code == 1 and message in result.output, result.output
    assert connection_of(live_server, tenant.workspace_id) is None
    provider.close()


def test_http_issuer_needs_the_loopback_setting(live_server: LiveServer, tmp_path: Path) -> None:
    """Without SCIMGATE_OIDC_ALLOW_LOOPBACK_HTTP a plain-http issuer is refused, even on loopback."""
    tenant = make_tenant(live_server, domains=(f"{uuid.uuid4().hex[:10]}.example",))
    provider = OidcProvider()
    secret = tmp_path / "secret"
    secret.write_text(provider.client_secret)
    result = CliRunner().invoke(app, [
        "sso", "oidc", "add", tenant.workspace_id, "--issuer", provider.issuer,
        "--client-id", provider.client_id, "--client-secret-file", str(secret),
    ], env={"SCIMGATE_DATABASE_URL": live_server.database_url, "SCIMGATE_PUBLIC_URL": live_server.url,
            "SCIMGATE_OIDC_ALLOW_LOOPBACK_HTTP": "0"})
    assert result.exit_code == 1 and "must be an https URL" in result.output, result.output
    assert connection_of(live_server, tenant.workspace_id) is None
    provider.close()


def test_unreachable_issuer_and_empty_secret_are_refused(live_server: LiveServer, tmp_path: Path) -> None:
    tenant = make_tenant(live_server, domains=(f"{uuid.uuid4().hex[:10]}.example",))
    provider = OidcProvider()
    provider.close()
    result = configure(live_server, tmp_path, tenant.workspace_id, provider)
    assert result.exit_code == 1 and "could not be read" in result.output, result.output
    live = OidcProvider()
    live.client_secret = ""
    result = configure(live_server, tmp_path, tenant.workspace_id, live)
    assert result.exit_code == 1 and "client secret file is empty" in result.output, result.output
    assert connection_of(live_server, tenant.workspace_id) is None
    live.close()


def test_oidc_connection_is_stored(live_server: LiveServer, tmp_path: Path) -> None:
    """Configuring OIDC on a workspace stores an ``oidc`` connection with its endpoints; the
    SAML SP metadata stays served (it exists before any IdP is connected) and names no IdP."""
    tenant = make_tenant(live_server, domains=(f"{uuid.uuid4().hex[:10]}.example",))
    provider = OidcProvider("entra")
    result = configure(live_server, tmp_path, tenant.workspace_id, provider)
    assert result.exit_code == 0, result.output
    connection = connection_of(live_server, tenant.workspace_id)
    assert connection is not None and connection.kind == "oidc"
    assert connection.idp_entity_id == provider.issuer and connection.oidc_algorithms == "RS256"
    assert connection.oidc_jwks_uri == provider.issuer + "/keys" and connection.metadata_xml is None
    answer = httpx.get(f"{live_server.url}/sso/saml/{tenant.workspace_id}/metadata")
    assert answer.status_code == 200 and "entityID" in answer.text
    assert provider.issuer not in answer.text
    provider.close()
