"""OIDC sign-in security rules, each refused with nothing bound and no session (issue 18;
OpenID Connect Core 1.0 §3.1.3.7, RFC 7636, RFC 8725 §2.1 and §3.1)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from scimgate.simulate.oidc_provider import OidcProvider, new_key
from scimgate.storage.models import SsoBinding
from tests.oidc.support import OidcTenant, authorize, browser, me, oidc_tenant, sign_in
from tests.support import LiveServer

Forge = Callable[[OidcProvider, dict[str, Any]], str]


def bindings(oidc: OidcTenant) -> int:
    with oidc.server.sessions() as session:
        query = select(func.count()).select_from(SsoBinding)
        return int(session.scalar(query.where(SsoBinding.workspace_id == oidc.tenant.workspace_id)) or 0)


def assert_refused(oidc: OidcTenant, client: httpx.Client, response: httpx.Response, text: str = "") -> None:
    assert response.status_code == 403, response.text
    assert text in response.text
    assert "scimgate_member=" not in " ".join(response.headers.get_list("set-cookie"))
    assert me(oidc, client).status_code == 401
    assert bindings(oidc) == 0


def now() -> int:
    return int(time.time())


def tampered(provider: OidcProvider, claims: dict[str, Any]) -> str:
    """A token whose payload was changed after signing (the signature no longer covers it)."""
    header, _, signature = provider.mint(claims).split(".")
    payload = base64.urlsafe_b64encode(json.dumps({**claims, "sub": "someone-else"}).encode())
    return f"{header}.{payload.rstrip(b'=').decode()}.{signature}"


FORGED: dict[str, tuple[Forge, str]] = {
    "wrong nonce": (lambda p, c: p.mint({**c, "nonce": "not-the-nonce"}), "ID token claim refused (nonce)"),
    "wrong iss": (lambda p, c: p.mint({**c, "iss": "https://attacker.example/"}), "claim refused (iss)"),
    "wrong aud": (lambda p, c: p.mint({**c, "aud": "another-client"}), "ID token claim refused (aud)"),
    "several aud without azp": (
        lambda p, c: p.mint({**c, "aud": [p.client_id, "another-client"]}), "azp is not this client"),
    "azp of another client": (lambda p, c: p.mint({**c, "azp": "another-client"}), "azp is not this client"),
    "expired": (lambda p, c: p.mint({**c, "iat": now() - 7200, "exp": now() - 3600}), "ID token expired"),
    "issued in the future": (
        lambda p, c: p.mint({**c, "iat": now() + 3600, "exp": now() + 7200}), "claim refused (iat)"),
    "issued long ago": (
        lambda p, c: p.mint({**c, "iat": now() - 86400, "exp": now() + 3600}), "issued too long ago"),
    "no nonce": (lambda p, c: p.mint({k: v for k, v in c.items() if k != "nonce"}), "ID token lacks nonce"),
    "no exp": (lambda p, c: p.mint({k: v for k, v in c.items() if k != "exp"}), "ID token lacks exp"),
    "alg none": (lambda p, c: p.alg_none(c), "algorithm 'none' is not allowed"),
    "HS256 keyed with the public key": (
        lambda p, c: p.hs256_with_public_key(c), "algorithm 'HS256' is not allowed"),
    "tampered signature": (tampered, "signature does not verify"),
    "signed by a stranger's key with the provider's kid": (
        lambda p, c: p.mint(c, new_key(p.signing_key.kid)), "signature does not verify"),
    "critical header": (lambda p, c: p.mint_raw({"crit": ["exp"]}, c), "critical header"),
    "not a JWT": (lambda p, c: "not-a-jwt", "not a compact JWS"),
}


def logged_reason(server: LiveServer, workspace_id: str) -> str:
    """The message of the workspace's last logged refusal (the log reaches the file a moment
    after the answer; waits up to 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        text = server.log_path.read_text()
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        found = [line["message"] for line in lines if line.get("workspace_id") == workspace_id
                 and "refused" in line.get("message", "")]
        if found or time.monotonic() > deadline:
            return found[-1] if found else ""
        time.sleep(0.05)


@pytest.mark.parametrize("case", list(FORGED))
def test_forged_id_tokens_are_refused(live_server: LiveServer, tmp_path: Path, case: str) -> None:
    """Each bad ID token from the token endpoint is refused: no binding, no session."""
    oidc = oidc_tenant(live_server, tmp_path)
    user = oidc.user("victim")
    oidc.tenant.create_user(user.email)
    forge, reason = FORGED[case]
    oidc.provider.forge = lambda claims: forge(oidc.provider, claims)
    client = browser()
    assert_refused(oidc, client, sign_in(oidc, client, user.email), "Start again from the sign-in page")
    assert reason in logged_reason(live_server, oidc.tenant.workspace_id)


def test_several_audiences_with_azp_are_accepted(live_server: LiveServer, tmp_path: Path) -> None:
    """The control of the audience cases: several aud with azp = this client passes (Core §3.1.3.7)."""
    oidc = oidc_tenant(live_server, tmp_path)
    user = oidc.user("azp")
    oidc.tenant.create_user(user.email)
    provider = oidc.provider
    audiences = [provider.client_id, "api"]
    provider.forge = lambda c: provider.mint({**c, "aud": audiences, "azp": provider.client_id})
    client = browser()
    assert sign_in(oidc, client, user.email).status_code == 303
    assert me(oidc, client).status_code == 200


def test_unknown_kid_refetches_jwks_once_then_rate_limited(live_server: LiveServer, tmp_path: Path) -> None:
    """A kid the JWKS does not hold: refused; the JWKS is fetched again at most once per
    interval, however many such tokens arrive."""
    oidc = oidc_tenant(live_server, tmp_path)
    user = oidc.user("kid")
    oidc.tenant.create_user(user.email)
    assert sign_in(oidc, browser(), user.email).status_code == 303
    fetched = oidc.provider.jwks_fetches
    with live_server.sessions() as session:  # the good sign-in bound the member; undo it
        session.query(SsoBinding).filter(SsoBinding.workspace_id == oidc.tenant.workspace_id).delete()
        session.commit()
    ghost = new_key("ghost-kid")
    oidc.provider.forge = lambda claims: oidc.provider.mint(claims, ghost)
    for _ in range(3):
        client = browser()
        assert_refused(oidc, client, sign_in(oidc, client, user.email))
        assert "no key of the provider's JWKS has the token's kid" in logged_reason(
            live_server, oidc.tenant.workspace_id)
    assert oidc.provider.jwks_fetches == fetched + 1


def test_bad_state_is_refused(live_server: LiveServer, tmp_path: Path) -> None:
    """A state this server never issued (even with a matching cookie) is refused."""
    oidc = oidc_tenant(live_server, tmp_path)
    client = browser()
    forged_state = secrets.token_urlsafe(32)
    client.cookies.set("scimgate_oidc_state", forged_state, path=urlsplit(oidc.redirect_uri).path)
    response = client.get(oidc.redirect_uri + "?" + urlencode({"code": "x", "state": forged_state}))
    assert_refused(oidc, client, response)
    assert "state names no open request" in logged_reason(live_server, oidc.tenant.workspace_id)
    assert oidc.provider.token_requests == 0


def test_state_of_another_browser_is_refused(live_server: LiveServer, tmp_path: Path) -> None:
    """A callback URL carried to another browser (login CSRF) fails: its state is not that
    browser's cookie; the code is never exchanged."""
    oidc = oidc_tenant(live_server, tmp_path)
    user = oidc.user("csrf")
    oidc.tenant.create_user(user.email)
    callback = authorize(oidc, browser(), user.email)
    other = browser()
    assert_refused(oidc, other, other.get(callback))
    assert "state does not match" in logged_reason(live_server, oidc.tenant.workspace_id)
    assert oidc.provider.token_requests == 0


def test_replayed_state_is_refused(live_server: LiveServer, tmp_path: Path) -> None:
    """A callback answered once is refused the second time, even with the state cookie."""
    oidc = oidc_tenant(live_server, tmp_path)
    user = oidc.user("replay")
    oidc.tenant.create_user(user.email)
    client = browser()
    callback = authorize(oidc, client, user.email)
    assert client.get(callback).status_code == 303
    state = parse_qs(urlsplit(callback).query)["state"][0]
    again = browser()
    again.cookies.set("scimgate_oidc_state", state, path=urlsplit(oidc.redirect_uri).path)
    response = again.get(callback)
    assert response.status_code == 403 and me(oidc, again).status_code == 401
    assert oidc.provider.token_requests == 1
    assert "state names no open request" in logged_reason(live_server, oidc.tenant.workspace_id)


def test_cross_tenant_callback_is_refused(live_server: LiveServer, tmp_path: Path) -> None:
    """A state issued for workspace A, delivered to workspace B's callback, is refused; an ID
    token from B's provider in A's flow is refused too (signature, issuer)."""
    first = oidc_tenant(live_server, tmp_path)
    second = oidc_tenant(live_server, tmp_path)
    user = first.user("cross")
    first.tenant.create_user(user.email)
    second.user("cross")
    second.tenant.create_user(f"cross@{second.domain}")
    client = browser()
    callback = authorize(first, client, user.email)
    state = parse_qs(urlsplit(callback).query)["state"][0]
    moved = second.redirect_uri + "?" + urlsplit(callback).query
    client.cookies.set("scimgate_oidc_state", state, path=urlsplit(second.redirect_uri).path)
    assert_refused(second, client, client.get(moved))
    assert "state names no open request" in logged_reason(live_server, second.tenant.workspace_id)
    assert bindings(first) == 0
    other = second.provider
    first.provider.forge = lambda claims: other.mint({**claims, "iss": other.issuer, "aud": other.client_id})
    client = browser()
    assert_refused(first, client, sign_in(first, client, user.email))
    assert "no key of the provider's JWKS" in logged_reason(live_server, first.tenant.workspace_id)


def test_subject_bound_elsewhere_is_refused(live_server: LiveServer, tmp_path: Path) -> None:
    """A member bound to one subject is not taken over by another subject with the same email."""
    oidc = oidc_tenant(live_server, tmp_path)
    owner = oidc.user("taken")
    created = oidc.tenant.create_user(owner.email)
    assert sign_in(oidc, browser(), owner.email).status_code == 303
    intruder = oidc.provider.add_user(type(owner)(owner.email))  # same email, another sub
    client = browser()
    response = sign_in(oidc, client, intruder.email)
    assert response.status_code == 403 and "already linked to another identity" in response.text
    assert me(oidc, client).status_code == 401 and bindings(oidc) == 1
    with live_server.sessions() as session:
        binding = session.scalar(select(SsoBinding).where(SsoBinding.member_id == created["id"]))
        assert binding is not None and binding.subject.endswith("!" + owner.sub)


def test_deactivated_and_unprovisioned_members_are_refused(live_server: LiveServer, tmp_path: Path) -> None:
    """active false (before and after binding) and no member at all: refused, no session."""
    oidc = oidc_tenant(live_server, tmp_path)
    client = browser()
    nobody = oidc.user("nobody")
    assert_refused(oidc, client, sign_in(oidc, client, nobody.email), "Ask your admin to give you access")
    gone = oidc.user("gone")
    oidc.tenant.create_user(gone.email, active=False)
    assert_refused(oidc, client, sign_in(oidc, client, gone.email), "deactivated your access")
    later = oidc.user("later")
    created = oidc.tenant.create_user(later.email)
    assert sign_in(oidc, browser(), later.email).status_code == 303
    answer = oidc.tenant.patch(f"/Users/{created['id']}", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    })
    assert answer.status_code == 200
    response = sign_in(oidc, client, later.email)
    assert response.status_code == 403 and "deactivated your access" in response.text
    assert me(oidc, client).status_code == 401


def test_provider_error_is_refused(live_server: LiveServer, tmp_path: Path) -> None:
    """The provider answering error=access_denied (here: an unknown login hint) is refused."""
    oidc = oidc_tenant(live_server, tmp_path)
    client = browser()
    response = sign_in(oidc, client, f"unknown-at-idp@{oidc.domain}")
    assert_refused(oidc, client, response, "did not sign you in")
    assert "the provider answered error access_denied" in logged_reason(live_server, oidc.tenant.workspace_id)


def test_refusals_are_logged_without_personal_data(live_server: LiveServer, tmp_path: Path) -> None:
    """A refusal's log line names the reason and the workspace, never the email or a token."""
    oidc = oidc_tenant(live_server, tmp_path)
    user = oidc.user("logged")
    oidc.tenant.create_user(user.email)
    tokens: list[str] = []

    def wrong_aud(claims: dict[str, Any]) -> str:
        tokens.append(oidc.provider.mint({**claims, "aud": "another-client"}))
        return tokens[-1]

    oidc.provider.forge = wrong_aud
    assert sign_in(oidc, browser(), user.email).status_code == 403
    assert "ID token claim refused (aud)" in logged_reason(live_server, oidc.tenant.workspace_id)
    log = live_server.log_path.read_text()
    assert user.email not in log and tokens[0] not in log and oidc.provider.client_secret not in log


def test_rs256_token_for_an_es256_connection_is_refused(live_server: LiveServer, tmp_path: Path) -> None:
    """Only the algorithms the discovery document offered are accepted: an RS256 token, even one
    signed by a key in the JWKS, is refused by an ES256 connection."""
    oidc = oidc_tenant(live_server, tmp_path, algorithm="ES256")
    user = oidc.user("alg")
    oidc.tenant.create_user(user.email)
    rsa = new_key("rsa-extra")
    oidc.provider.published.append(rsa)
    oidc.provider.forge = lambda claims: oidc.provider.mint(claims, rsa)
    client = browser()
    assert_refused(oidc, client, sign_in(oidc, client, user.email))
    assert "algorithm 'RS256' is not allowed" in logged_reason(live_server, oidc.tenant.workspace_id)


def test_token_endpoint_refusals_are_refused(live_server: LiveServer, tmp_path: Path) -> None:
    """A code the provider does not know (changed in the URL) and a client secret the provider
    no longer accepts: the token endpoint's error is a refusal, logged with its error code."""
    oidc = oidc_tenant(live_server, tmp_path)
    user = oidc.user("code")
    oidc.tenant.create_user(user.email)
    client = browser()
    callback = authorize(oidc, client, user.email)
    query = parse_qs(urlsplit(callback).query)
    changed = oidc.redirect_uri + "?" + urlencode({"code": "not-a-code", "state": query["state"][0]})
    assert_refused(oidc, client, client.get(changed))
    assert "token endpoint refused the code (invalid_grant)" in logged_reason(
        live_server, oidc.tenant.workspace_id)
    oidc.provider.client_secret = "rotated-at-the-provider"
    client = browser()
    assert_refused(oidc, client, sign_in(oidc, client, user.email))
    assert "(invalid_client)" in logged_reason(live_server, oidc.tenant.workspace_id)
