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
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
EXPIRY_WARNING_DAYS = 30


class MetadataError(ValueError):
    """The metadata is unusable; the message tells the admin what is wrong."""


@dataclass(frozen=True)
class IdpMetadata:
    """What scimgate uses of IdP metadata: the IdP's ``entityID``, its HTTP-Redirect sign-on URL,
    the signing certificates' expiry times (UTC) and the XML itself (kept as given)."""

    entity_id: str
    sso_url: str
    certificate_expiry: tuple[datetime, ...]
    xml: str

    def expiring_soon(self, now: datetime) -> bool:
        """True when the last valid certificate expires within EXPIRY_WARNING_DAYS days."""
        return (max(self.certificate_expiry) - now).days < EXPIRY_WARNING_DAYS


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
    expiry = []
    for descriptor in idp.findall(f"{{{MD}}}KeyDescriptor"):
        if descriptor.get("use", "signing") != "signing":
            continue
        for element in descriptor.iter(f"{{{DS}}}X509Certificate"):
            try:
                certificate = x509.load_der_x509_certificate(
                    base64.b64decode("".join((element.text or "").split()))
                )
            except ValueError as exc:
                raise MetadataError("A signing certificate in the metadata cannot be read.") from exc
            expiry.append(certificate.not_valid_after_utc)
    if not expiry:
        raise MetadataError('The metadata has no signing certificate (KeyDescriptor use="signing").')
    if max(expiry) <= now:
        raise MetadataError(
            f"Every signing certificate has expired (the last on {max(expiry):%Y-%m-%d}): "
            "download fresh metadata from the identity provider."
        )
    return IdpMetadata(entity_id, sso_url, tuple(sorted(expiry)), raw.decode())
