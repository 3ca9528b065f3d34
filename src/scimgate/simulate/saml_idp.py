"""A local SAML 2.0 identity provider for ``scimgate simulate entra --sign-in`` (pysaml2
``saml2.server.Server``), so a simulated member can sign in without any real IdP.

It makes a throwaway RSA-2048 key and a self-signed certificate (cryptography) in a temporary
folder, publishes its metadata, reads the HTTP-Redirect AuthnRequest of a ``/login`` redirect
(SAML 2.0 Bindings §3.4) and answers with a signed Response (RSA-SHA256, signed assertion)
shaped like Microsoft Entra ID's: persistent NameID = the user's object id, plus the
``objectidentifier``, ``tenantid``, ``emailaddress`` and ``name`` claims. Nothing is served over
the network: the simulator posts the answer to the ACS itself, as the browser would.
"""

from __future__ import annotations

import base64
import datetime as dt
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server

OBJECT_ID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
TENANT_ID_CLAIM = "http://schemas.microsoft.com/identity/claims/tenantid"
EMAIL_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
NAME_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
CERTIFICATE_DAYS = 2


def xmlsec_binary() -> str:
    """Debian's ``xmlsec1``, which pysaml2 runs to sign (apt-get install xmlsec1)."""
    path = shutil.which("xmlsec1")
    if path is None:
        raise RuntimeError("--sign-in needs xmlsec1: apt-get install xmlsec1")
    return path


def _key_pair(folder: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scimgate simulate IdP")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=CERTIFICATE_DAYS))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = folder / "idp.key", folder / "idp.crt"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


class LocalIdp:
    """One throwaway IdP; ``close()`` deletes its key."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="scimgate-simulate-idp-"))
        self.entity_id = f"https://simulate-{uuid.uuid4().hex[:8]}.idp.invalid/"
        self.sso_url = self.entity_id + "sso/redirect"
        self.tenant_id = str(uuid.uuid4())
        self.key_file, self.cert_file = _key_pair(self.folder)
        self._sp_metadata: list[str] = []
        self.server = self._server()

    def _server(self) -> Server:
        config: dict[str, Any] = {
            "entityid": self.entity_id,
            "xmlsec_binary": xmlsec_binary(),
            "key_file": str(self.key_file),
            "cert_file": str(self.cert_file),
            "metadata": {"inline": self._sp_metadata} if self._sp_metadata else {},
            "service": {"idp": {
                "endpoints": {"single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)]},
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None,
                                       "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"}},
            }},
        }
        return Server(config=IdPConfig().load(config))

    @property
    def metadata_xml(self) -> str:
        """This IdP's metadata: entity ID, HTTP-Redirect sign-on URL, signing certificate."""
        return str(entity_descriptor(self.server.config))

    def trust_sp(self, sp_metadata_xml: str) -> None:
        """Learn the SP (its entity ID and ACS URL) from its metadata."""
        self._sp_metadata.append(sp_metadata_xml)
        self.server = self._server()

    def read_request(self, location: str) -> str:
        """The ID of the AuthnRequest carried by a redirect ``location``; ValueError when there is none."""
        query = parse_qs(urlparse(location).query)
        if not location.startswith(self.sso_url) or "SAMLRequest" not in query:
            raise ValueError("the redirect does not carry an AuthnRequest to this IdP")
        return str(self.server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT).message.id)

    def answer(self, *, email: str, object_id: str, in_response_to: str, sp_entity_id: str,
               acs_url: str) -> str:
        """A base64 SAMLResponse (Entra-shaped, assertion signed) for the SP's request."""
        identity = {OBJECT_ID_CLAIM: [object_id], TENANT_ID_CLAIM: [self.tenant_id],
                    EMAIL_CLAIM: [email], NAME_CLAIM: [email]}
        response = self.server.create_authn_response(
            identity, in_response_to=in_response_to, destination=acs_url, sp_entity_id=sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=object_id),
            sign_assertion=True, sign_response=False, sign_alg=RSA_SHA256, digest_alg=SHA256,
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
        )
        return base64.b64encode(str(response).encode()).decode()

    def close(self) -> None:
        """Delete the key and certificate."""
        shutil.rmtree(self.folder, ignore_errors=True)
