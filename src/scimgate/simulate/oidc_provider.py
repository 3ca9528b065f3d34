"""An in-process OpenID Connect provider on loopback over real HTTP, for ``scimgate simulate
entra --sign-in-protocol oidc``, ``python -m bench sign_in`` and the tests.

``OidcProvider`` serves, from a thread of the calling process (http.server):

- ``{issuer}/.well-known/openid-configuration`` (OpenID Connect Discovery 1.0 §4),
- ``{issuer}/keys``: the JWKS of its published signing keys (throwaway RSA keys made with
  joserfc; ``rotate()`` publishes a new key and withdraws the old one),
- ``{issuer}/authorize``: checks client id, redirect URI, ``response_type=code``, scope ``openid``
  and the PKCE S256 challenge, then redirects back with a one-time ``code`` and the ``state``
  for the user the ``login_hint`` names (``add_user``),
- ``{issuer}/token``: checks the client secret (HTTP Basic or form), the code (once), the
  redirect URI and the PKCE verifier, and answers an ID token shaped like Microsoft Entra ID's
  (``tid``, ``oid``, ``preferred_username``, pairwise ``sub``, issuer ``…/{tenant}/v2.0``) or
  Okta's (``sub`` = the user id, ``email``, ``email_verified``, ``preferred_username``).

``forge`` lets a test replace the ID token the token endpoint answers (``mint_raw``,
``hs256_with_public_key`` and ``alg_none`` make the bad ones: wrong issuer, audience, nonce,
expired, ``alg`` none, HS256 keyed with the public key, unknown ``kid``, tampered signature).
Nothing leaves the machine.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey


@dataclass
class ProviderUser:
    """Someone who can sign in at the provider: ``email`` (the login hint), ``sub`` (Okta's user
    id), ``object_id`` (Entra's ``oid``)."""

    email: str
    sub: str = field(default_factory=lambda: "00u" + uuid.uuid4().hex[:17])
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    name: str = "Ada Lovelace"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unsigned_parts(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """``base64url(header).base64url(claims)``: the JWS signing input (RFC 7515 §5.1)."""
    return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())


def new_key(kid: str | None = None, algorithm: str = "RS256") -> RSAKey | ECKey:
    """A throwaway signing key: RSA-2048 for RS256, P-256 for ES256."""
    parameters = {"kid": kid or uuid.uuid4().hex[:12], "use": "sig", "alg": algorithm}
    if algorithm == "ES256":
        return ECKey.generate_key("P-256", parameters)  # type: ignore[arg-type]
    return RSAKey.generate_key(2048, parameters)  # type: ignore[arg-type]


class OidcProvider:
    """A provider of ``shape`` ``entra`` or ``okta`` for one client, on 127.0.0.1, signing ID
    tokens with ``algorithm`` (RS256 or ES256)."""

    __test__ = False

    def __init__(self, shape: str = "okta", algorithm: str = "RS256") -> None:
        self.shape = shape
        self.algorithm = algorithm
        self.tenant_id = str(uuid.uuid4())
        self.client_id = str(uuid.uuid4()) if shape == "entra" else "0oa" + uuid.uuid4().hex[:17]
        self.client_secret = secrets.token_urlsafe(24)
        self.redirect_uris: set[str] = set()
        self.signing_key = new_key(algorithm=algorithm)
        self.published: list[RSAKey | ECKey] = [self.signing_key]
        self.users: dict[str, ProviderUser] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.jwks_fetches = 0
        self.token_requests = 0
        self.discovery_overrides: dict[str, Any] = {}
        self.forge: Callable[[dict[str, Any]], str] | None = None
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        path = f"/{self.tenant_id}/v2.0" if shape == "entra" else "/oauth2/default"
        self.issuer = self.origin + path
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- what tests call ------------------------------------------------------------------------

    def add_user(self, user: ProviderUser) -> ProviderUser:
        """Let ``user`` sign in with ``user.email`` as the login hint."""
        self.users[user.email.lower()] = user
        return user

    def rotate(self) -> RSAKey | ECKey:
        """Sign with a new key from now on; the JWKS publishes only the new key."""
        with self.lock:
            self.signing_key = new_key(algorithm=self.algorithm)
            self.published = [self.signing_key]
        return self.signing_key

    def claims(self, user: ProviderUser, nonce: str, **changes: Any) -> dict[str, Any]:
        """The ID token claims the provider issues for ``user`` (its shape), with ``changes``."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 3600,
            "nonce": nonce,
            "name": user.name,
        }
        if self.shape == "entra":
            claims.update(
                sub=b64url(hashlib.sha256((user.object_id + self.client_id).encode()).digest()),
                nbf=now,
                tid=self.tenant_id,
                oid=user.object_id,
                preferred_username=user.email,
                ver="2.0",
            )
        else:
            claims.update(
                sub=user.sub,
                email=user.email,
                email_verified=True,
                preferred_username=user.email,
                ver=1,
                auth_time=now,
            )
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def mint(self, claims: dict[str, Any], key: RSAKey | ECKey | None = None, **header: Any) -> str:
        """A compact JWS of ``claims`` signed with ``key`` (default: the signing key) by the
        key's algorithm."""
        key = key or self.signing_key
        alg = str(key.alg)
        return jwt.encode({"alg": alg, "kid": key.kid, **header}, claims, key, algorithms=[alg])

    def mint_raw(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        """An RS256 signature over any ``header`` (joserfc refuses to make some, e.g. ``crit``)."""
        signing_input = unsigned_parts({"alg": "RS256", "kid": self.signing_key.kid, **header}, claims)
        private = self.signing_key.private_key
        assert isinstance(private, rsa.RSAPrivateKey), "mint_raw signs RS256: the signing key is RSA"
        signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(signature)

    def public_pem(self) -> bytes:
        """The signing key's public key as PEM (what an HS256 key-confusion attacker holds)."""
        return self.signing_key.as_pem(private=False)

    def hs256_with_public_key(self, claims: dict[str, Any]) -> str:
        """An HS256 token keyed with the public key's PEM text (RFC 8725 §2.1's confusion)."""
        signing_input = unsigned_parts({"alg": "HS256", "typ": "JWT", "kid": self.signing_key.kid}, claims)
        mac = hmac.new(self.public_pem(), signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + b64url(mac)

    @staticmethod
    def alg_none(claims: dict[str, Any]) -> str:
        """An unsecured JWT (``alg`` none, empty signature: RFC 7519 §6)."""
        return unsigned_parts({"alg": "none", "typ": "JWT"}, claims) + "."

    # --- the endpoints ----------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/keys",
            "response_types_supported": ["code", "id_token", "code id_token"],
            "subject_types_supported": ["pairwise" if self.shape == "entra" else "public"],
            "id_token_signing_alg_values_supported": [self.algorithm],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email", "name"],
        }
        if self.shape == "okta":
            document["code_challenge_methods_supported"] = ["S256"]
        document.update(self.discovery_overrides)
        return document

    def _authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        redirect = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or redirect not in self.redirect_uris:
            return 400, {}, {"error": "invalid_request", "error_description": "unknown client or redirect"}
        checks = (
            query.get("response_type") == "code",
            "openid" in query.get("scope", "").split(),
            query.get("code_challenge_method") == "S256" and len(query.get("code_challenge", "")) == 43,
            bool(query.get("state")) and bool(query.get("nonce")),
        )
        user = self.users.get(query.get("login_hint", "").lower())
        if not all(checks) or user is None:
            return 302, {"Location": redirect + "?" + urlencode(
                {"error": "access_denied", "state": query.get("state", "")})}, None
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {
                "redirect_uri": redirect,
                "challenge": query["code_challenge"],
                "nonce": query["nonce"],
                "user": user,
            }
        return 302, {"Location": redirect + "?" + urlencode({"code": code, "state": query["state"]})}, None

    def _client_authenticated(self, headers: Any, form: dict[str, str]) -> bool:
        basic = headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            client_id, secret = unquote(client_id), unquote(secret)
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        return client_id == self.client_id and hmac.compare_digest(secret, self.client_secret)

    def _token(self, headers: Any, form: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            self.token_requests += 1
            grant = self.codes.pop(form.get("code", ""), None)
        if not self._client_authenticated(headers, form):
            return 401, {}, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code" or grant is None:
            return 400, {}, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        challenge = b64url(hashlib.sha256(verifier.encode()).digest())
        if form.get("redirect_uri") != grant["redirect_uri"] or challenge != grant["challenge"]:
            return 400, {}, {"error": "invalid_grant", "error_description": "redirect or PKCE mismatch"}
        claims = self.claims(grant["user"], grant["nonce"])
        id_token = self.forge(claims) if self.forge else self.mint(claims)
        return 200, {}, {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "openid email profile",
            "id_token": id_token,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib's name)
                return

            def _answer(self, status: int, headers: dict[str, str], body: Any) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                parts = urlsplit(self.path)
                path = parts.path.removeprefix(urlsplit(provider.issuer).path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if path == "/.well-known/openid-configuration":
                    self._answer(200, {}, provider.discovery())
                elif path == "/keys":
                    with provider.lock:
                        provider.jwks_fetches += 1
                        keys = [key.as_dict(private=False) for key in provider.published]
                    self._answer(200, {}, {"keys": keys})
                elif path == "/authorize":
                    self._answer(*provider._authorize(query))
                else:
                    self._answer(404, {}, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path == urlsplit(provider.issuer).path + "/token":
                    self._answer(*provider._token(self.headers, form))
                else:
                    self._answer(404, {}, {"error": "not_found"})

        return Handler
