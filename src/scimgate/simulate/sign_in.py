"""``--sign-in`` of ``scimgate simulate entra``: every provisioned user also signs in through a
local IdP (simulate.saml_idp), or with ``--sign-in-protocol oidc`` a local OpenID Connect provider
(simulate.oidc_provider, Entra-shaped ID tokens), over HTTP only, as a browser would.

Setup: the workspace's SAML connection is pointed at the local IdP through the admin API
(``PUT /api/admin/v1/sso/saml`` with the IdP's metadata; the ``--admin-key`` of the workspace),
and the IdP learns the SP from the SP metadata URL that answer names. Each sign-in is the
SP-initiated Web Browser SSO profile (SAML 2.0 Profiles §4.1): ``POST /login`` with the email
(expect 303 to the IdP with a ``SAMLRequest``), the IdP's Entra-shaped answer posted to the ACS
(expect 303 to ``/me``), then ``GET /api/me`` with the session cookie, whose ``id`` must be the
user's SCIM id. The user's object id stays the same across sign-ins, so after the domain move
the sign-in with the new address must land in the same id; a disabled user must be refused.

OIDC: the workspace's connection is pointed at the local provider with ``PUT
/api/admin/v1/sso/oidc`` (issuer, client id, client secret; the server reads the discovery
document, so it must accept a plain-http loopback issuer: ``SCIMGATE_OIDC_ALLOW_LOOPBACK_HTTP=1``),
and the provider learns the redirect URI that answer names. Each sign-in is the authorization
code flow (OpenID Connect Core §3.1): ``POST /login`` (expect 303 to the provider's authorization
endpoint), the provider's redirect back with a code, ``GET`` of the callback with the ``state``
cookie (expect 303 to ``/me``, or 403 for a disabled user), then ``GET /api/me``. The user keeps
its Entra object id (``oid``) across the domain move, as with SAML.

A 429 on ``/login`` or the ACS is waited out for its ``Retry-After``, like the SCIM client does.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from scimgate.simulate.client import MAX_RETRIES_AFTER_429, retry_after_seconds, split_base_url
from scimgate.simulate.oidc_provider import OidcProvider, ProviderUser
from scimgate.simulate.report import Recorder
from scimgate.simulate.saml_idp import LocalIdp

SCIM_SUFFIX = "/api/scim/v2"
ADMIN_API = "/api/admin/v1"
PROTOCOLS = ("saml", "oidc")


def origin_of(scim_url: str) -> str:
    """The server's origin from its SCIM Base URL (query flags and ``/api/scim/v2`` dropped)."""
    base, _ = split_base_url(scim_url)
    return base[: -len(SCIM_SUFFIX)] if base.endswith(SCIM_SUFFIX) else base


class SignIns:
    """Signs simulated users in over ``protocol`` (``saml`` or ``oidc``); each outcome is an
    exchange of ``kind`` in ``recorder``."""

    def __init__(self, origin: str, admin_key: str, recorder: Recorder, *, timeout: float = 30.0,
                 protocol: str = "saml") -> None:
        self.origin, self.recorder, self.timeout = origin.rstrip("/"), recorder, timeout
        self.admin_key = admin_key
        self.protocol = protocol
        self.idp = LocalIdp()
        self.provider = OidcProvider("entra") if protocol == "oidc" else None
        self.object_ids: dict[int, str] = {}
        self.entity_id = self.acs_url = ""

    def connect(self) -> bool:
        """Point the workspace's connection at the local IdP or provider; False (recorded) on
        failure."""
        return self._connect_oidc() if self.provider is not None else self._connect_saml()

    def _connect_oidc(self) -> bool:
        assert self.provider is not None
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        body = {"issuer": self.provider.issuer, "client_id": self.provider.client_id,
                "client_secret": self.provider.client_secret, "lookup": "userName"}
        try:
            answer = httpx.put(self.origin + ADMIN_API + "/sso/oidc", headers=headers, timeout=self.timeout,
                               json=body)
            if answer.status_code != 200:
                self.recorder.failure("sign-in setup", str(answer.status_code), None,
                                      f"PUT {ADMIN_API}/sso/oidc: {answer.text[:200]}")
                return False
            self.provider.redirect_uris.add(answer.json()["oidc"]["redirect_uri"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            self.recorder.failure("sign-in setup", "transport", None, f"OIDC setup: {exc!r}")
            return False
        return True

    def _connect_saml(self) -> bool:
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        try:
            answer = httpx.put(self.origin + ADMIN_API + "/sso/saml", headers=headers, timeout=self.timeout,
                               json={"metadata_xml": self.idp.metadata_xml, "lookup": "userName"})
            if answer.status_code != 200:
                self.recorder.failure("sign-in setup", str(answer.status_code), None,
                                      f"PUT {ADMIN_API}/sso/saml: {answer.text[:200]}")
                return False
            sp = answer.json()["sp"]
            self.entity_id, self.acs_url = sp["entity_id"], sp["acs_url"]
            metadata = httpx.get(sp["metadata_url"], timeout=self.timeout)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            self.recorder.failure("sign-in setup", "transport", None, f"SAML setup: {exc!r}")
            return False
        if metadata.status_code != 200:
            self.recorder.failure("sign-in setup", str(metadata.status_code), None, "SP metadata not served")
            return False
        self.idp.trust_sp(metadata.text)
        return True

    def sign_in(self, kind: str, index: int, email: str, *, expect_id: str | None) -> bool:
        """Sign user ``index`` in with ``email``. ``expect_id``: the SCIM id /api/me must answer;
        None: the sign-in must be refused (403). Returns whether the outcome was as expected."""
        object_id = self.object_ids.setdefault(index, str(uuid.uuid4()))
        started = time.perf_counter()
        try:
            with httpx.Client(base_url=self.origin, timeout=self.timeout, follow_redirects=False) as browser:
                problem = self._flow(browser, email, object_id, expect_id)
        except (httpx.HTTPError, ValueError) as exc:
            problem = ("transport", f"{email}: {exc!r}")
        self.recorder.exchange(kind, time.perf_counter() - started)
        if problem is not None:
            self.recorder.failure(kind, problem[0], None, problem[1])
        return problem is None

    def _post(self, browser: httpx.Client, url: str, data: dict[str, Any]) -> httpx.Response:
        response = browser.post(url, data=data)
        for _ in range(MAX_RETRIES_AFTER_429):
            if response.status_code != 429:
                break
            self.recorder.throttle()
            time.sleep(retry_after_seconds(response))
            response = browser.post(url, data=data)
        return response

    def _get(self, browser: httpx.Client, url: str) -> httpx.Response:
        response = browser.get(url)
        for _ in range(MAX_RETRIES_AFTER_429):
            if response.status_code != 429:
                break
            self.recorder.throttle()
            time.sleep(retry_after_seconds(response))
            response = browser.get(url)
        return response

    def _flow(self, browser: httpx.Client, email: str, object_id: str,
              expect_id: str | None) -> tuple[str, str] | None:
        login = self._post(browser, "/login", {"email": email})
        if login.status_code not in (302, 303):
            return str(login.status_code), f"POST /login for {email}: expected a redirect to the IdP"
        if self.provider is not None:
            return self._oidc_flow(browser, login.headers["location"], email, object_id, expect_id)
        request_id = self.idp.read_request(login.headers["location"])
        saml_response = self.idp.answer(email=email, object_id=object_id, in_response_to=request_id,
                                        sp_entity_id=self.entity_id, acs_url=self.acs_url)
        acs = self._post(browser, self.acs_url, {"SAMLResponse": saml_response, "RelayState": ""})
        if expect_id is None:
            if acs.status_code != 403:
                return str(acs.status_code), f"ACS for disabled {email}: expected 403, the sign-in is refused"
            return None
        if acs.status_code != 303:
            return str(acs.status_code), f"ACS for {email}: expected 303 to /me"
        return self._landed(browser, email, expect_id)

    def _oidc_flow(self, browser: httpx.Client, location: str, email: str, object_id: str,
                   expect_id: str | None) -> tuple[str, str] | None:
        assert self.provider is not None
        if email.lower() not in self.provider.users:  # the same Entra user (oid) under each address
            self.provider.add_user(ProviderUser(email, object_id=object_id))
        authorized = browser.get(location)  # the provider signs the user in at once (login_hint)
        if authorized.status_code != 302:
            return str(authorized.status_code), f"authorization request for {email}: expected a redirect back"
        callback = self._get(browser, authorized.headers["location"])
        if expect_id is None:
            if callback.status_code != 403:
                return (str(callback.status_code),
                        f"OIDC callback for disabled {email}: expected 403, the sign-in is refused")
            return None
        if callback.status_code != 303:
            return str(callback.status_code), f"OIDC callback for {email}: expected 303 to /me"
        return self._landed(browser, email, expect_id)

    def _landed(self, browser: httpx.Client, email: str, expect_id: str) -> tuple[str, str] | None:
        """Check that the session of ``browser`` is the member ``expect_id``."""
        me = browser.get("/api/me")
        if me.status_code != 200:
            return str(me.status_code), f"GET /api/me after signing in {email}"
        landed = me.json().get("id")
        if landed != expect_id:
            return "mismatch", f"{email} signed in to member {landed}, expected {expect_id}"
        return None

    def close(self) -> None:
        """Delete the local IdP's key; stop the local provider."""
        self.idp.close()
        if self.provider is not None:
            self.provider.close()
