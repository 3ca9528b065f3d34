"""Identity-provider metadata: read, check and summarise (SAML 2.0 Metadata, OASIS saml-metadata-2.0-os).

An admin gives scimgate the IdP's metadata XML (Entra: "Federation Metadata XML"; Okta:
"Identity Provider metadata"; Google Workspace: "Download metadata"). It is refused, with a
message that says what is wrong, when it is not XML, holds a DTD, describes no IdP
(``IDPSSODescriptor``), has no HTTP-Redirect ``SingleSignOnService``, no signing certificate,
or only certificates that have expired. The certificates found here are the only ones
trusted to sign responses (pysaml2 ``only_use_keys_in_metadata``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, SubElement, register_namespace, tostring

from cryptography import x509
from cryptography.x509.oid import NameOID
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
EXPIRY_WARNING_DAYS = 30


class MetadataError(ValueError):
    """The metadata is unusable; the message tells the admin what is wrong."""


@dataclass(frozen=True)
class Certificate:
    """One IdP signing certificate: ``der_base64`` as metadata carries it (ds:X509Certificate),
    its SHA-256 ``fingerprint`` (lower-case hex of the DER, the key admins compare with the IdP's
    page), the subject's common name and its validity end (UTC)."""

    der_base64: str
    fingerprint: str
    subject: str
    not_after: datetime

    def days_left(self, now: datetime) -> int:
        """Whole days until ``not_after`` (negative once expired)."""
        return (self.not_after - now).days

    def expiring_soon(self, now: datetime) -> bool:
        """True within EXPIRY_WARNING_DAYS days of ``not_after`` (or after it)."""
        return self.days_left(now) < EXPIRY_WARNING_DAYS


@dataclass(frozen=True)
class IdpMetadata:
    """What scimgate uses of IdP metadata: the IdP's ``entityID``, its HTTP-Redirect sign-on URL,
    its signing certificates (in document order) and the XML itself (kept as given)."""

    entity_id: str
    sso_url: str
    certificates: tuple[Certificate, ...]
    xml: str

    @property
    def certificate_expiry(self) -> tuple[datetime, ...]:
        """The signing certificates' expiry times, earliest first."""
        return tuple(sorted(c.not_after for c in self.certificates))

    def expiring_soon(self, now: datetime) -> bool:
        """True when the last valid certificate expires within EXPIRY_WARNING_DAYS days."""
        return (max(self.certificate_expiry) - now).days < EXPIRY_WARNING_DAYS


def _certificate(der: bytes) -> Certificate:
    loaded = x509.load_der_x509_certificate(der)
    names = loaded.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    subject = str(names[0].value) if names else loaded.subject.rfc4514_string()
    return Certificate(base64.b64encode(der).decode(), hashlib.sha256(der).hexdigest(), subject,
                       loaded.not_valid_after_utc)


PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


def read_certificate(text: str | bytes, now: datetime | None = None) -> Certificate:
    """A signing certificate given by an admin for roll-over: PEM (``-----BEGIN CERTIFICATE-----``)
    or bare base64 DER as IdP pages show it. Raises MetadataError when it is not one X.509
    certificate or has already expired."""
    now = now or datetime.now(UTC)
    value = text.decode("ascii", "replace") if isinstance(text, bytes) else text
    blocks = PEM_BLOCK.findall(value)
    if len(blocks) > 1:
        raise MetadataError("Give one certificate at a time.")
    body = "".join((blocks[0] if blocks else value).split())
    try:
        certificate = _certificate(base64.b64decode(body, validate=True))
    except ValueError as exc:
        raise MetadataError(
            "This is not an X.509 certificate: paste the PEM text (-----BEGIN CERTIFICATE-----) "
            "or the base64 value the identity provider shows."
        ) from exc
    if certificate.not_after <= now:
        raise MetadataError(f"This certificate expired on {certificate.not_after:%Y-%m-%d}.")
    return certificate


def read_idp_metadata(xml: str | bytes, now: datetime | None = None) -> IdpMetadata:
    """Parse and check IdP metadata; raise MetadataError naming the first problem found."""
    now = now or datetime.now(UTC)
    raw = xml.encode() if isinstance(xml, str) else xml
    try:
        root = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise MetadataError(
            "The metadata contains a DTD or entity declarations, which are not accepted."
        ) from exc
    except Exception as exc:
        raise MetadataError("This is not XML: give the identity provider's SAML metadata file.") from exc
    if root.tag == f"{{{MD}}}EntitiesDescriptor":
        entities = root.findall(f"{{{MD}}}EntityDescriptor")
        if len(entities) != 1:
            raise MetadataError(
                "The file describes several entities: give the metadata of one identity provider."
            )
        root = entities[0]
    if root.tag != f"{{{MD}}}EntityDescriptor":
        raise MetadataError("This XML is not SAML metadata (no md:EntityDescriptor).")
    entity_id = root.get("entityID") or ""
    idp = root.find(f"{{{MD}}}IDPSSODescriptor")
    if idp is None:
        raise MetadataError(
            f"The entity {entity_id!r} is not an identity provider (no IDPSSODescriptor): "
            "give the identity provider's metadata, not a service provider's."
        )
    sso_url = next(
        (
            s.get("Location")
            for s in idp.findall(f"{{{MD}}}SingleSignOnService")
            if s.get("Binding") == HTTP_REDIRECT and s.get("Location")
        ),
        None,
    )
    if not sso_url:
        raise MetadataError("The identity provider offers no HTTP-Redirect SingleSignOnService.")
    certificates: dict[str, Certificate] = {}
    for descriptor in _signing_descriptors(idp):
        for element in descriptor.iter(f"{{{DS}}}X509Certificate"):
            try:
                certificate = _certificate(base64.b64decode("".join((element.text or "").split())))
            except ValueError as exc:
                raise MetadataError("A signing certificate in the metadata cannot be read.") from exc
            certificates.setdefault(certificate.fingerprint, certificate)
    if not certificates:
        raise MetadataError('The metadata has no signing certificate (KeyDescriptor use="signing").')
    last = max(c.not_after for c in certificates.values())
    if last <= now:
        raise MetadataError(
            f"Every signing certificate has expired (the last on {last:%Y-%m-%d}): "
            "download fresh metadata from the identity provider."
        )
    return IdpMetadata(entity_id, sso_url, tuple(certificates.values()), raw.decode())


def stored_certificates(xml: str) -> tuple[Certificate, ...]:
    """The signing certificates of metadata stored earlier (expired ones included, so the card
    can show them)."""
    return read_idp_metadata(xml, now=datetime.min.replace(tzinfo=UTC)).certificates


def _signing_descriptors(idp: Element) -> list[Element]:
    """The IDPSSODescriptor's KeyDescriptors used for signing (no ``use`` means both uses)."""
    return [d for d in idp.findall(f"{{{MD}}}KeyDescriptor") if d.get("use", "signing") == "signing"]


def with_signing_certificates(xml: str, certificates: list[Certificate]) -> str:
    """``xml`` (metadata already accepted by :func:`read_idp_metadata`) with its IdP signing
    KeyDescriptors replaced by exactly ``certificates`` (placed after any ds:Signature and
    md:Extensions, where saml-metadata-2.0-os §2.4.1 puts KeyDescriptor). This is how a
    roll-over certificate is trusted next to the old one, and how the old one is removed. A
    signature on the metadata document no longer matches afterwards; scimgate never checks one
    (the admin's upload is the trust decision)."""
    if not certificates:
        raise MetadataError("At least one signing certificate must stay trusted.")
    register_namespace("md", MD)
    register_namespace("ds", DS)
    root = fromstring(xml.encode(), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    entity = root if root.tag == f"{{{MD}}}EntityDescriptor" else root.find(f"{{{MD}}}EntityDescriptor")
    idp = entity.find(f"{{{MD}}}IDPSSODescriptor") if entity is not None else None
    if idp is None:
        raise MetadataError("The stored metadata has no IDPSSODescriptor.")
    for descriptor in _signing_descriptors(idp):
        idp.remove(descriptor)
    start = sum(1 for child in idp if child.tag in (f"{{{DS}}}Signature", f"{{{MD}}}Extensions"))
    for position, certificate in enumerate(certificates, start):
        descriptor = Element(f"{{{MD}}}KeyDescriptor", {"use": "signing"})
        data = SubElement(SubElement(descriptor, f"{{{DS}}}KeyInfo"), f"{{{DS}}}X509Data")
        SubElement(data, f"{{{DS}}}X509Certificate").text = certificate.der_base64
        idp.insert(position, descriptor)
    return tostring(root, encoding="unicode")
