"""OpenID Connect 1.0 relying party of one workspace: discovery, the authorization request,
the token exchange (Authlib) and the ID token checks (joserfc).

Pure protocol: no SQL and no HTTP framework; it calls the provider's endpoints itself.
services.oidc holds the workspace rules (request bookkeeping, binding, sessions), sso.routes
the HTTP edge.

- Discovery (OpenID Connect Discovery 1.0 §4): ``{issuer}/.well-known/openid-configuration``
  is read once, when the admin configures the connection; its ``issuer`` must equal the issuer
  given (§4.3), its endpoints must be https (http only on a loopback host, and only when the
  setting allows it, for tests and local providers), it must offer the ``code`` response type,
  PKCE S256 when it lists its methods, and an ID token algorithm of :data:`ALGORITHMS`.
- Authorization request (Core §3.1.2.1; RFC 7636 §4): authorization code flow with ``state``,
  ``nonce`` and a PKCE S256 code challenge, scopes :data:`SCOPES`.
- Token request (Core §3.1.3; RFC 6749 §4.1.3): ``client_secret_basic`` unless the provider
  offers only ``client_secret_post``.
- ID token validation (Core §3.1.3.7): signature by a key of the provider's JWKS (RFC 7517),
  fetched on first use, cached, and fetched again once on an unknown ``kid`` (key rotation) but
  not more often than every ``refetch_seconds``; ``alg`` from the allow-list only (never
  ``none``, never an HMAC algorithm, whose key would be the provider's public key: RFC 8725
  §2.1 and §3.1); ``iss``, ``aud`` (``azp`` when several audiences), ``exp``, ``iat`` and
  ``nonce``, with ``skew_seconds`` of clock skew.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError, MissingClaimError
from joserfc.jwk import Key, KeySet
from joserfc.jwt import JWTClaimsRegistry

SCOPES = "openid email profile"
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
"""ID token signature algorithms accepted (asymmetric only)."""
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
TIMEOUT_SECONDS = 10.0
MAX_DOCUMENT_BYTES = 512 * 1024
"""A discovery document or JWKS larger than this is refused."""
LOOPBACK_NAMES = ("localhost",)
LOGGABLE = re.compile(r"[A-Za-z0-9_.-]{1,40}")
"""What a provider- or token-chosen value (an error code, an ``alg``) must look like to be logged."""


def loggable(value: object) -> str:
    """``value`` when it looks like a code (LOGGABLE), else ``"other"``: what may be logged."""
    return value if isinstance(value, str) and LOGGABLE.fullmatch(value) else "other"


class OidcRefused(Exception):
    """A sign-in step refused; ``reason`` is what is logged (never a token or a claim value)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DiscoveryError(ValueError):
    """A discovery document (or its JWKS) that cannot be used; the message says why."""


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_allowed(url: str, allow_loopback_http: bool) -> bool:
    """Whether ``url`` may be used: https with a host, or http on a loopback host when
    ``allow_loopback_http``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if not parts.hostname or parts.username or parts.password:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and allow_loopback_http and _is_loopback(parts.hostname)


def discovery_url(issuer: str) -> str:
    """Where ``issuer`` publishes its configuration (Discovery §4: the issuer without a trailing
    slash, then ``/.well-known/openid-configuration``)."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


@dataclass(frozen=True)
class ProviderMetadata:
    """What sign-in needs from a provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_auth_method: str
    algorithms: tuple[str, ...]


def read_discovery(issuer: str, document: object, allow_loopback_http: bool = False) -> ProviderMetadata:
    """Check a parsed discovery document for ``issuer``. Raises DiscoveryError saying what is
    wrong (issuer mismatch, a missing or non-https endpoint, no ``code`` flow, no PKCE S256, no
    accepted ID token algorithm, no client secret method)."""
    if not endpoint_allowed(issuer, allow_loopback_http):
        raise DiscoveryError(f"The issuer must be an https URL, not {issuer!r}.")
    if not isinstance(document, dict):
        raise DiscoveryError("The discovery document is not a JSON object.")
    if document.get("issuer") != issuer:
        raise DiscoveryError(
            f"The discovery document names the issuer {document.get('issuer')!r}, not {issuer!r}: "
            "give the issuer exactly as the provider publishes it (for Entra ID, the tenant's "
            "https://login.microsoftonline.com/{tenant-id}/v2.0)."
        )
    endpoints: dict[str, str] = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = document.get(name)
        if not isinstance(value, str) or not endpoint_allowed(value, allow_loopback_http):
            raise DiscoveryError(f"The discovery document has no usable https {name}.")
        endpoints[name] = value
    if "code" not in (document.get("response_types_supported") or []):
        raise DiscoveryError("The provider does not offer the authorization code flow.")
    methods = document.get("code_challenge_methods_supported")
    if methods is not None and "S256" not in methods:
        raise DiscoveryError("The provider does not offer PKCE with S256.")
    offered = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = tuple(alg for alg in ALGORITHMS if alg in offered)
    if not algorithms:
        raise DiscoveryError(
            f"The provider signs ID tokens with none of {', '.join(ALGORITHMS)} (offered: {offered})."
        )
    auth_methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if "client_secret_basic" in auth_methods:
        token_auth_method = "client_secret_basic"
    elif "client_secret_post" in auth_methods:
        token_auth_method = "client_secret_post"
    else:
        raise DiscoveryError("The provider accepts no client secret at its token endpoint.")
    return ProviderMetadata(
        issuer,
        endpoints["authorization_endpoint"],
        endpoints["token_endpoint"],
        endpoints["jwks_uri"],
        token_auth_method,
        algorithms,
    )


def _get_json(url: str) -> object:
    try:
        response = requests.get(url, timeout=TIMEOUT_SECONDS, allow_redirects=False)
    except requests.RequestException as exc:
        raise DiscoveryError(f"{url} could not be read ({type(exc).__name__}).") from exc
    if response.status_code != 200:
        raise DiscoveryError(f"{url} answered HTTP {response.status_code}.")
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise DiscoveryError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes.")
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise DiscoveryError(f"{url} did not answer JSON.") from exc


def fetch_discovery(issuer: str, allow_loopback_http: bool = False) -> ProviderMetadata:
    """Read and check ``issuer``'s discovery document, and its JWKS once (so a provider whose
    keys cannot be read is refused at configure time). Raises DiscoveryError."""
    if not endpoint_allowed(issuer, allow_loopback_http):
        raise DiscoveryError(f"The issuer must be an https URL, not {issuer!r}.")
    metadata = read_discovery(issuer, _get_json(discovery_url(issuer)), allow_loopback_http)
    fetch_jwks(metadata.jwks_uri)
    return metadata


def fetch_jwks(jwks_uri: str) -> KeySet:
    """The signing keys published at ``jwks_uri`` (keys of unknown types are skipped). Raises
    DiscoveryError when it cannot be read or holds no usable key."""
    document = _get_json(jwks_uri)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise DiscoveryError(f"{jwks_uri} is not a JWK Set.")
    usable = [
        key
        for key in document["keys"]
        if isinstance(key, dict) and key.get("kty") in ("RSA", "EC") and key.get("use", "sig") == "sig"
    ]
    try:
        return KeySet.import_key_set({"keys": usable})
    except (JoseError, ValueError, TypeError) as exc:
        raise DiscoveryError(f"{jwks_uri} holds no usable signing key.") from exc


@dataclass
class _Keys:
    keys: KeySet
    fetched: float
    last_refetch: float | None = None


@dataclass
class JwksCache:
    """Each provider's JWKS by URI, shared by the requests of one process.

    A set is fetched on first use and again after ``max_age_seconds``; a token whose ``kid`` is
    not in the set causes one fetch (key rotation: RFC 7517 §5, Core §10.1.1), at most every
    ``refetch_seconds`` per URI, so tokens with invented ``kid`` values cannot make the server
    hammer the provider."""

    max_age_seconds: float = 3600.0
    refetch_seconds: float = 60.0
    fetch: Callable[[str], KeySet] = fetch_jwks
    clock: Callable[[], float] = time.monotonic
    _sets: dict[str, _Keys] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _load(self, jwks_uri: str, now: float, previous: _Keys | None) -> _Keys:
        try:
            keys = self.fetch(jwks_uri)
        except DiscoveryError as exc:
            raise OidcRefused("the provider's JWKS could not be read") from exc
        entry = _Keys(keys, now, previous.last_refetch if previous else None)
        self._sets[jwks_uri] = entry
        return entry

    def key_for(self, jwks_uri: str, kid: str | None, alg: str) -> Key:
        """The key of ``jwks_uri`` with ``kid`` and the key type of ``alg``. Raises OidcRefused
        when there is none after the refetch rules above."""
        with self._lock:
            now = self.clock()
            entry = self._sets.get(jwks_uri)
            fresh = entry is None or now - entry.fetched > self.max_age_seconds
            if fresh:
                entry = self._load(jwks_uri, now, entry)
            assert entry is not None
            key = _find_key(entry.keys, kid, alg)
            if key is not None:
                return key
            if fresh or (entry.last_refetch is not None and now - entry.last_refetch < self.refetch_seconds):
                entry.last_refetch = now if fresh else entry.last_refetch
                raise OidcRefused("no key of the provider's JWKS has the token's kid")
            entry = self._load(jwks_uri, now, entry)
            entry.last_refetch = now
            key = _find_key(entry.keys, kid, alg)
            if key is None:
                raise OidcRefused("no key of the provider's JWKS has the token's kid")
            return key


def _find_key(keys: KeySet, kid: str | None, alg: str) -> Key | None:
    key_type = KEY_TYPES.get(alg[:2])
    candidates = [key for key in keys if key.key_type == key_type and key.get("alg") in (None, alg)]
    if kid is None:
        return candidates[0] if len(candidates) == 1 else None
    return next((key for key in candidates if key.kid == kid), None)


@dataclass(frozen=True)
class RelyingParty:
    """One workspace's OIDC client: its provider's endpoints and its credentials."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    authorization_endpoint: str
    token_endpoint: str
    token_auth_method: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    redirect_uri: str
    skew_seconds: int = 120

    def _session(self) -> OAuth2Session:
        return OAuth2Session(
            self.client_id,
            self.client_secret,
            scope=SCOPES,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=self.token_auth_method,
        )

    def authorization_url(self, state: str, nonce: str, code_verifier: str, login_hint: str = "") -> str:
        """The provider URL the browser is sent to (Core §3.1.2.1, with the RFC 7636 S256
        challenge of ``code_verifier``)."""
        extra = {"login_hint": login_hint} if login_hint else {}
        with self._session() as client:
            url, _ = client.create_authorization_url(
                self.authorization_endpoint, state=state, code_verifier=code_verifier, nonce=nonce, **extra
            )
        return str(url)

    def exchange_code(self, code: str, code_verifier: str) -> str:
        """The ID token the token endpoint answers for ``code`` (Core §3.1.3.1-3.1.3.3).
        Raises OidcRefused (an error answer, a network failure, no ID token)."""
        with self._session() as client:
            try:
                token = client.fetch_token(
                    self.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                    timeout=TIMEOUT_SECONDS,
                    allow_redirects=False,
                )
            except OAuthError as exc:
                raise OidcRefused(f"the token endpoint refused the code ({loggable(exc.error)})") from exc
            except (requests.RequestException, ValueError) as exc:
                raise OidcRefused(f"the token endpoint could not be used ({type(exc).__name__})") from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise OidcRefused("the token response holds no ID token")
        return id_token

    def verify_id_token(
        self, id_token: str, nonce: str, jwks: JwksCache, max_age_seconds: float, now: float | None = None
    ) -> dict[str, Any]:
        """The claims of ``id_token`` once every check of Core §3.1.3.7 passed: signature (by
        :data:`ALGORITHMS` ∩ the provider's, with a JWKS key), ``iss``, ``aud``/``azp``,
        ``exp``, ``iat`` (not in the future, not older than ``max_age_seconds``), ``nonce``.
        Raises OidcRefused."""
        header = _header(id_token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise OidcRefused(f"ID token algorithm {loggable(alg)!r} is not allowed")
        if "crit" in header:
            raise OidcRefused("ID token has critical header parameters")
        kid = header.get("kid")
        key = jwks.key_for(self.jwks_uri, kid if isinstance(kid, str) else None, alg)
        try:
            claims = jwt.decode(id_token, key, algorithms=[alg]).claims
        except JoseError as exc:
            raise OidcRefused("ID token signature does not verify") from exc
        current = int(now if now is not None else time.time())
        registry = JWTClaimsRegistry(
            now=current,
            leeway=self.skew_seconds,
            iss={"essential": True, "value": self.issuer},
            sub={"essential": True},
            aud={"essential": True, "value": self.client_id},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError as exc:
            raise OidcRefused("ID token expired") from exc
        except MissingClaimError as exc:
            raise OidcRefused(f"ID token lacks {exc.claim}") from exc
        except JoseError as exc:
            raise OidcRefused(f"ID token claim refused ({getattr(exc, 'claim', 'claims')})") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != self.client_id:
            raise OidcRefused("ID token azp is not this client")
        if current - claims["iat"] > max_age_seconds + self.skew_seconds:
            raise OidcRefused("ID token issued too long ago")
        return claims


def _header(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise OidcRefused("ID token is not a compact JWS")
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except ValueError as exc:
        raise OidcRefused("ID token header is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise OidcRefused("ID token header is not a JSON object")
    return header


ENTRA_TENANT = "tid"
ENTRA_OBJECT_ID = "oid"
EMAIL_CLAIMS = ("email", "preferred_username", "upn")


@dataclass(frozen=True)
class OidcSignIn:
    """The facts of an accepted ID token. ``subject`` is the stable key the member is bound by:
    ``oid:<tid>:<oid>`` when Entra's ``tid`` and ``oid`` claims are sent (the same key a SAML
    sign-in through Entra gives, so a workspace may move between the two), else
    ``oidc:<iss>!<sub>`` (``sub`` is never reassigned by its issuer: Core §2). Always stable."""

    issuer: str
    sub: str
    subject: str
    claims: dict[str, Any]
    stable: bool = True

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> OidcSignIn:
        """The sign-in of verified ``claims``."""
        tenant, object_id = claims.get(ENTRA_TENANT), claims.get(ENTRA_OBJECT_ID)
        if isinstance(tenant, str) and isinstance(object_id, str) and tenant and object_id:
            subject = f"oid:{tenant}:{object_id}"
        else:
            subject = f"oidc:{claims['iss']}!{claims['sub']}"
        return cls(claims["iss"], claims["sub"], subject, claims)

    def _claim_values(self) -> list[str]:
        values = []
        for name in EMAIL_CLAIMS:
            value = self.claims.get(name)
            if name == "email" and self.claims.get("email_verified") is False:
                continue
            if isinstance(value, str) and value.strip():
                values.append(value.strip())
        return list(dict.fromkeys(values))

    def emails(self) -> list[str]:
        """The email-shaped values of ``email`` (unless ``email_verified`` is false),
        ``preferred_username`` and ``upn``, in that order."""
        return [value for value in self._claim_values() if "@" in value]

    def external_ids(self) -> list[str]:
        """Values an ``externalId`` lookup compares, first to last: Entra's ``oid``, ``sub``
        (Okta's SCIM externalId is the user id its ID tokens carry as ``sub``), then the
        email claims."""
        object_id = self.claims.get(ENTRA_OBJECT_ID)
        found = [object_id] if isinstance(object_id, str) and object_id else []
        return list(dict.fromkeys([*found, self.sub, *self._claim_values()]))

    def attributes(self) -> dict[str, list[str]]:
        """The claims as the test sign-in shows them (strings and lists of strings only)."""
        shown: dict[str, list[str]] = {}
        for name, value in self.claims.items():
            if isinstance(value, str | int | bool):
                shown[name] = [str(value)]
            elif isinstance(value, list):
                shown[name] = [str(item) for item in value]
        return shown
