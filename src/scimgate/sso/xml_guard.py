"""Structural checks on a SAML Response before any signature is verified.

pysaml2 hands the document to ``xmlsec1``, which honours whatever transforms and algorithms the
signature names. These checks run first, on the raw bytes, and refuse:

- any DTD, entity declaration or external reference (defusedxml; XML Signature Best Practices,
  W3C Working Group Note 2013, §2.1 "For Implementers: Consider avoiding XSLT transforms" and §3.1);
- a root that is not ``samlp:Response``, anything but exactly one ``saml:Assertion`` as a direct
  child of it, and duplicate ``ID`` attributes (the signature-wrapping variants of Somorovsky et
  al., "On Breaking SAML: Be Whoever You Want to Be", USENIX Security 2012);
- a ``ds:Signature`` that is not a direct child of the Response or the Assertion, or whose single
  ``ds:Reference`` does not name its parent's ``ID``;
- transforms other than enveloped-signature and exclusive canonicalisation (XML Signature 1.1
  §6.6; SAML 2.0 Core §5.4.4 names exactly these), and SHA-1 (or weaker) signature and digest
  algorithms (NIST SP 800-131A Rev. 2: SHA-1 is disallowed for digital signature generation).
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"

ALLOWED_TRANSFORMS = frozenset(
    {
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    }
)
ALLOWED_SIGNATURE_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    }
)
ALLOWED_DIGEST_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#sha384",
        "http://www.w3.org/2001/04/xmlenc#sha512",
    }
)
ALLOWED_C14N = ALLOWED_TRANSFORMS - {"http://www.w3.org/2000/09/xmldsig#enveloped-signature"}


class SamlRefused(Exception):
    """A SAML message refused; ``reason`` is safe to log and to show (no personal data)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ResponseShape:
    """What the guard read from an accepted shape: the Response's ``InResponseTo`` (or None for
    an unsolicited response) and the Assertion's ``ID`` (the replay-cache key)."""

    in_response_to: str | None
    assertion_id: str


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _check_signature(signature: Element, parent: Element) -> None:
    signed_info = signature.find(_q(DS, "SignedInfo"))
    if signed_info is None:
        raise SamlRefused("A Signature has no SignedInfo.")
    c14n = signed_info.find(_q(DS, "CanonicalizationMethod"))
    if c14n is None or c14n.get("Algorithm") not in ALLOWED_C14N:
        raise SamlRefused("The signature's canonicalisation is not exclusive XML canonicalisation.")
    method = signed_info.find(_q(DS, "SignatureMethod"))
    if method is None or method.get("Algorithm") not in ALLOWED_SIGNATURE_METHODS:
        raise SamlRefused(
            "The signature algorithm is not RSA or ECDSA with SHA-256 or stronger (SHA-1 is refused)."
        )
    references = signed_info.findall(_q(DS, "Reference"))
    if len(references) != 1 or references[0].get("URI") != "#" + (parent.get("ID") or "\0"):
        raise SamlRefused("The signature does not cover exactly the element that holds it.")
    for transform in references[0].iter(_q(DS, "Transform")):
        if transform.get("Algorithm") not in ALLOWED_TRANSFORMS:
            raise SamlRefused(
                "The signature uses a transform other than enveloped-signature and "
                "exclusive canonicalisation."
            )
    digest = references[0].find(_q(DS, "DigestMethod"))
    if digest is None or digest.get("Algorithm") not in ALLOWED_DIGEST_METHODS:
        raise SamlRefused("The digest algorithm is not SHA-256 or stronger (SHA-1 is refused).")


def check_response(xml: bytes) -> ResponseShape:
    """Parse ``xml`` (a decoded SAMLResponse) safely and check its shape; raise SamlRefused."""
    try:
        root = fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise SamlRefused("The SAML response contains a DTD or entity declaration.") from exc
    except Exception as exc:  # ParseError and friends: not well-formed
        raise SamlRefused("The SAML response is not well-formed XML.") from exc
    if root.tag != _q(SAMLP, "Response"):
        raise SamlRefused("The message is not a SAML Response.")
    ids = [element.get("ID") for element in root.iter() if element.get("ID") is not None]
    if len(ids) != len(set(ids)):
        raise SamlRefused("Two elements of the response carry the same ID.")
    if root.find(f".//{_q(SAML, 'EncryptedAssertion')}") is not None:
        raise SamlRefused("Encrypted assertions are not accepted (the SP publishes no encryption key).")
    assertions = list(root.iter(_q(SAML, "Assertion")))
    direct = root.findall(_q(SAML, "Assertion"))
    if len(assertions) != 1 or len(direct) != 1:
        raise SamlRefused("The response must hold exactly one Assertion, directly inside it.")
    assertion = direct[0]
    signatures = list(root.iter(_q(DS, "Signature")))
    allowed_parents = {id(root), id(assertion)}
    parents = {id(child): parent for parent in root.iter() for child in parent}
    for signature in signatures:
        parent = parents.get(id(signature))
        if parent is None or id(parent) not in allowed_parents:
            raise SamlRefused("A Signature sits outside the Response and Assertion elements.")
        _check_signature(signature, parent)
    if not signatures:
        raise SamlRefused("Neither the response nor the assertion is signed.")
    assertion_id = assertion.get("ID")
    if not assertion_id:
        raise SamlRefused("The Assertion has no ID.")
    return ResponseShape(root.get("InResponseTo"), assertion_id)
