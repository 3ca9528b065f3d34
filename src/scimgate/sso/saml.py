"""The SAML 2.0 service provider of one workspace, built on pysaml2 (``saml2.client.Saml2Client``).

- SP metadata and entity ID (SAML 2.0 Metadata §2.4.4): the entity ID is the metadata URL
  ``{public_url}/sso/saml/{workspace_id}/metadata``; the one AssertionConsumerService is
  ``{public_url}/sso/saml/{workspace_id}/acs`` with the HTTP-POST binding (SAML 2.0 Bindings §3.5).
- AuthnRequest over HTTP-Redirect (Bindings §3.4), unsigned, asking for no particular NameID format.
- Response checks: xml_guard first (shape, algorithms, transforms), then pysaml2: signature of the
  response or the assertion by a metadata certificate only, Issuer, Audience, Destination,
  SubjectConfirmation (bearer, Recipient = ACS, NotOnOrAfter), Conditions NotBefore/NotOnOrAfter
  with ``skew_seconds`` of clock skew, and InResponseTo against ``outstanding`` (SAML 2.0 Profiles
  §4.1.4.3 and §4.1.4.5). Unsolicited (IdP-initiated) responses are refused unless
  ``allow_idp_initiated``.
"""

from __future__ import annotations

import base64
import functools
import shutil
from dataclasses import dataclass, field
from typing import Any

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.response import AuthnResponse
from saml2.sigver import CryptoBackendXmlSec1

from scimgate.sso.xml_guard import SamlRefused, check_response

NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
ENTRA_OBJECT_ID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
ENTRA_TENANT_ID = "http://schemas.microsoft.com/identity/claims/tenantid"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


@dataclass(frozen=True)
class ServiceProvider:
    """One workspace's SP: its URLs, the IdP metadata it trusts and its checking settings."""

    public_url: str
    workspace_id: str
    idp_metadata_xml: str
    skew_seconds: int = 120
    allow_idp_initiated: bool = False

    @property
    def entity_id(self) -> str:
        """The SP entity ID, which is also where its metadata is served."""
        return f"{self.public_url.rstrip('/')}/sso/saml/{self.workspace_id}/metadata"

    @property
    def acs_url(self) -> str:
        """The AssertionConsumerService URL (HTTP-POST binding)."""
        return f"{self.public_url.rstrip('/')}/sso/saml/{self.workspace_id}/acs"


@dataclass(frozen=True)
class SignIn:
    """The facts of an accepted assertion. ``subject`` is the stable key the member is bound by:
    ``oid:<tenant>:<objectidentifier>`` for Entra's object-id claim, else
    ``nameid:<issuer>!<NameID>``; ``stable`` is False when the NameID is a display value (an
    email or an unspecified format), which a rename changes."""

    issuer: str
    name_id: str
    name_id_format: str | None
    subject: str
    stable: bool
    assertion_id: str
    in_response_to: str | None
    attributes: dict[str, list[str]] = field(default_factory=dict)

    def emails(self) -> list[str]:
        """The email-shaped values sent: the NameID when it is one, and the email claims."""
        found = [self.name_id] if "@" in self.name_id else []
        for name, values in self.attributes.items():
            if name.lower().rsplit("/", 1)[-1] in ("emailaddress", "email", "mail", "upn", "name"):
                found += [v for v in values if "@" in v]
        return list(dict.fromkeys(found))

    def external_ids(self) -> list[str]:
        """The value an ``externalId`` lookup compares: Entra's object id, else the NameID."""
        if self.subject.startswith("oid:"):
            return [self.subject.split(":", 2)[2]]
        return [self.name_id]


def xmlsec_binary() -> str:
    """The path of Debian's ``xmlsec1`` program, which pysaml2 runs to check signatures."""
    path = shutil.which("xmlsec1")
    if path is None:
        raise RuntimeError("xmlsec1 is not installed: apt-get install xmlsec1 (make serve does it)")
    return path


@functools.cache
def _xmlsec_version(path: str) -> str:
    return str(CryptoBackendXmlSec1(path).version)


class _XmlSec1(CryptoBackendXmlSec1):  # type: ignore[misc]
    """pysaml2's xmlsec1 backend with the program's version read once per process: pysaml2 asks
    ``xmlsec1 --version`` twice per signature check (two of its three subprocesses; bench
    sign_in), and the answer cannot change while the process runs."""

    @property
    def version(self) -> str:
        return _xmlsec_version(self.xmlsec)


def _client(sp: ServiceProvider) -> Saml2Client:
    client = Saml2Client(_config(sp))
    client.sec.crypto = _XmlSec1(client.sec.crypto.xmlsec)
    return client


def _config(sp: ServiceProvider) -> SPConfig:
    settings: dict[str, Any] = {
        "entityid": sp.entity_id,
        "xmlsec_binary": xmlsec_binary(),
        "metadata": {"inline": [sp.idp_metadata_xml]} if sp.idp_metadata_xml else {},
        "accepted_time_diff": sp.skew_seconds,
        "only_use_keys_in_metadata": True,
        "service": {
            "sp": {
                "endpoints": {"assertion_consumer_service": [(sp.acs_url, BINDING_HTTP_POST)]},
                "want_assertions_or_response_signed": True,
                "want_response_signed": False,
                "want_assertions_signed": False,
                "authn_requests_signed": False,
                "allow_unsolicited": sp.allow_idp_initiated,
                "name_id_format_allow_create": True,
            }
        },
    }
    return SPConfig().load(settings)


def sp_metadata(sp: ServiceProvider) -> str:
    """The SP's metadata XML (an EntityDescriptor with one SPSSODescriptor)."""
    return str(entity_descriptor(_config(sp)))


def authn_request(sp: ServiceProvider, idp_sso_url: str, relay_state: str = "") -> tuple[str, str]:
    """A new AuthnRequest for the HTTP-Redirect binding: ``(request ID, redirect URL)``."""
    client = Saml2Client(_config(sp))
    request_id, request = client.create_authn_request(idp_sso_url, binding=BINDING_HTTP_POST, sign=False)
    info = client.apply_binding(BINDING_HTTP_REDIRECT, str(request), idp_sso_url, relay_state)
    return request_id, dict(info["headers"])["Location"]


def read_response(sp: ServiceProvider, saml_response: str, outstanding: dict[str, str]) -> SignIn:
    """Check a posted ``SAMLResponse`` (base64) and return its facts; raise SamlRefused.

    ``outstanding`` maps the request IDs this server issued and has not yet seen answered to
    where they came from; the caller loads at most the one the response names."""
    try:
        xml = base64.b64decode(saml_response, validate=False)
    except ValueError as exc:
        raise SamlRefused("The SAMLResponse is not base64.") from exc
    shape = check_response(xml)
    if shape.in_response_to is None and not sp.allow_idp_initiated:
        raise SamlRefused("Unsolicited (IdP-initiated) sign-in is off: start at the sign-in page.")
    client = _client(sp)
    try:
        response = client.parse_authn_request_response(
            saml_response, BINDING_HTTP_POST, outstanding=outstanding
        )
    except SamlRefused:
        raise
    except Exception as exc:  # pysaml2 raises many unrelated classes; each is a refusal
        raise SamlRefused(f"The SAML response failed its checks ({type(exc).__name__}).") from exc
    if not isinstance(response, AuthnResponse) or response.assertion is None:
        raise SamlRefused("The SAML response holds no usable assertion.")
    return _sign_in(response, shape.assertion_id, shape.in_response_to)


def _sign_in(response: AuthnResponse, assertion_id: str, in_response_to: str | None) -> SignIn:
    assertion = response.assertion
    if assertion.id != assertion_id:
        raise SamlRefused("The checked assertion is not the one in the response.")
    name_id = assertion.subject.name_id if assertion.subject is not None else None
    if name_id is None or not (name_id.text or "").strip():
        raise SamlRefused("The assertion has no NameID.")
    issuer = (assertion.issuer.text or "").strip()
    attributes: dict[str, list[str]] = {}
    for statement in assertion.attribute_statement or []:
        for attribute in statement.attribute:
            values = [str(v.text).strip() for v in attribute.attribute_value or [] if v.text]
            attributes.setdefault(attribute.name, []).extend(values)
    object_ids = attributes.get(ENTRA_OBJECT_ID) or []
    value = name_id.text.strip()
    if object_ids:
        tenant = (attributes.get(ENTRA_TENANT_ID) or [issuer])[0]
        subject, stable = f"oid:{tenant}:{object_ids[0]}", True
    else:
        subject, stable = f"nameid:{issuer}!{value}", name_id.format == NAMEID_PERSISTENT
    return SignIn(issuer, value, name_id.format, subject, stable, assertion_id, in_response_to, attributes)
