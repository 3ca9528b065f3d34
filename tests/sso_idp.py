"""An in-process SAML 2.0 identity provider for tests (pysaml2 ``saml2.server.Server``).

Each ``TestIdp`` has a throwaway RSA key and self-signed certificate made with cryptography,
publishes its metadata (``metadata_xml``), reads an HTTP-Redirect AuthnRequest and answers with a
signed Response shaped like Microsoft Entra ID's (persistent NameID plus the objectidentifier and
emailaddress claims) or Okta's (emailAddress NameID, attribute statements). Nothing leaves the
machine: the test posts the answer to the live server's ACS itself.
"""

from __future__ import annotations

import base64
import datetime as dt
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
OBJECT_ID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
TENANT_ID = "http://schemas.microsoft.com/identity/claims/tenantid"
EMAIL_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
NAME_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"


def make_key_pair(folder: Path, name: str, *, days: int = 365) -> tuple[Path, Path]:
    """An RSA-2048 key and a self-signed certificate valid ``days`` from yesterday (PEM files)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = folder / f"{name}.key", folder / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@dataclass
class TestUser:
    """Who signs in at the test IdP: ``email`` and, for Entra, ``object_id``."""

    __test__ = False
    email: str
    object_id: str = ""
    name: str = "Ada Lovelace"


class TestIdp:
    """A pysaml2 IdP named ``entity_id`` with its own throwaway key (``days`` of validity)."""

    __test__ = False

    def __init__(self, entity_id: str, *, days: int = 365, folder: Path | None = None) -> None:
        self.folder = folder or Path(tempfile.mkdtemp(prefix="scimgate-idp-"))
        self.entity_id = entity_id
        self.sso_url = entity_id.rstrip("/") + "/sso/redirect"
        self.key_file, self.cert_file = make_key_pair(self.folder, uuid.uuid4().hex[:8], days=days)
        self.lifetime_minutes = 5
        self.tenant_id = str(uuid.uuid4())
        self._sp_metadata: list[str] = []
        self.server = self._server()

    def _server(self) -> Server:
        config: dict[str, Any] = {
            "entityid": self.entity_id,
            "xmlsec_binary": shutil.which("xmlsec1"),
            "key_file": str(self.key_file),
            "cert_file": str(self.cert_file),
            "metadata": {"inline": self._sp_metadata} if self._sp_metadata else {},
            "service": {
                "idp": {
                    "endpoints": {"single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)]},
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_EMAILADDRESS],
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": self.lifetime_minutes},
                            "attribute_restrictions": None,
                            "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
                        }
                    },
                }
            },
        }
        return Server(config=IdPConfig().load(config))

    @property
    def metadata_xml(self) -> str:
        """This IdP's metadata (an EntityDescriptor with its IDPSSODescriptor and certificate)."""
        from saml2.metadata import entity_descriptor

        return str(entity_descriptor(self.server.config))

    def set_lifetime(self, minutes: int) -> None:
        """Make later assertions valid for ``minutes`` from now (negative: already expired)."""
        self.lifetime_minutes = minutes
        self.server = self._server()

    def forger(self) -> TestIdp:
        """Another IdP with the same entity ID and SSO URL but its own key (a forger)."""
        forged = TestIdp(self.entity_id, folder=self.folder)
        forged.tenant_id = self.tenant_id
        forged._sp_metadata = list(self._sp_metadata)
        forged.server = forged._server()
        return forged

    def trust_sp(self, sp_metadata_xml: str) -> None:
        """Learn an SP from its metadata (the admin pasting scimgate's metadata into the IdP)."""
        self._sp_metadata.append(sp_metadata_xml)
        self.server = self._server()

    def read_request(self, location: str) -> tuple[str, str]:
        """``(request id, relay state)`` of the AuthnRequest in a redirect ``location``."""
        query = parse_qs(urlparse(location).query)
        request = self.server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        return request.message.id, query.get("RelayState", [""])[0]

    def response(
        self,
        user: TestUser,
        *,
        sp_entity_id: str,
        acs_url: str,
        in_response_to: str | None,
        shape: str = "entra",
        sign_alg: str = RSA_SHA256,
        digest_alg: str = SHA256,
        sign_assertion: bool = True,
        sign_response: bool = False,
        audience: str | None = None,
        recipient: str | None = None,
    ) -> str:
        """A base64 SAMLResponse for ``user`` shaped like ``entra`` or ``okta``."""
        if shape == "entra":
            name_id = NameID(format=NAMEID_FORMAT_PERSISTENT, text=user.object_id or user.email)
            identity = {
                OBJECT_ID: [user.object_id],
                TENANT_ID: [self.tenant_id],
                EMAIL_CLAIM: [user.email],
                NAME_CLAIM: [user.email],
            }
        else:
            name_id = NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=user.email)
            identity = {
                "email": [user.email],
                "firstName": [user.name.split()[0]],
                "lastName": [user.name.split()[-1]],
            }
        response = self.server.create_authn_response(
            identity,
            in_response_to=in_response_to,
            destination=recipient or acs_url,
            sp_entity_id=audience or sp_entity_id,
            name_id=name_id,
            sign_assertion=sign_assertion,
            sign_response=sign_response,
            sign_alg=sign_alg,
            digest_alg=digest_alg,
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
        )
        return base64.b64encode(str(response).encode()).decode()


def post_binding_fields(saml_response: str, relay_state: str = "") -> dict[str, str]:
    """The form an IdP's auto-submitting page posts to the ACS (SAML 2.0 Bindings §3.5.4)."""
    return {"SAMLResponse": saml_response, "RelayState": relay_state}


__all__ = ["BINDING_HTTP_POST", "TestIdp", "TestUser", "make_key_pair", "post_binding_fields"]
