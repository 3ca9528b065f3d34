"""sso.xml_guard refuses shapes before any signature is checked (XML Signature Best Practices;
SAML 2.0 Core §5.4.4: enveloped-signature and exclusive c14n only)."""

from __future__ import annotations

import base64
import re

import pytest

from scimgate.sso.saml import ServiceProvider, sp_metadata
from scimgate.sso.xml_guard import SamlRefused, check_response
from tests.sso_idp import TestIdp, TestUser


@pytest.fixture(scope="module")
def signed() -> str:
    """A real signed Entra-shaped response from the in-process IdP."""
    idp = TestIdp("https://guard.idp.test/")
    sp = ServiceProvider("http://sp.test", "w1", idp.metadata_xml)
    idp.trust_sp(sp_metadata(sp))
    return base64.b64decode(
        idp.response(
            TestUser("ada@example.com", "oid-1"),
            sp_entity_id=sp.entity_id,
            acs_url=sp.acs_url,
            in_response_to="id-request",
        )
    ).decode()


def refused(xml: str) -> str:
    with pytest.raises(SamlRefused) as caught:
        check_response(xml.encode())
    return caught.value.reason


def test_the_real_shape_passes(signed: str) -> None:
    """A well-formed signed response yields its InResponseTo and assertion ID."""
    shape = check_response(signed.encode())
    assert shape.in_response_to == "id-request" and shape.assertion_id in signed


def test_xslt_transform_is_refused(signed: str) -> None:
    """A transform other than enveloped-signature / exc-c14n (pysaml2 issue #1035's DoS vector)."""
    xml = signed.replace(
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/TR/1999/REC-xslt-19991116",
        1,
    )
    assert "transform" in refused(xml)


def test_sha1_digest_alone_is_refused(signed: str) -> None:
    """A SHA-1 digest under a SHA-256 signature method."""
    xml = signed.replace(
        "http://www.w3.org/2001/04/xmlenc#sha256", "http://www.w3.org/2000/09/xmldsig#sha1", 1
    )
    assert "SHA-1" in refused(xml)


def test_reference_to_another_element_is_refused(signed: str) -> None:
    """The signature's Reference must name its own parent's ID."""
    xml = re.sub(r'URI="#[^"]+"', 'URI="#elsewhere"', signed, count=1)
    assert "exactly the element" in refused(xml)


def test_assertion_hidden_in_another_is_refused(signed: str) -> None:
    """An assertion nested inside another element (XSW: wrapped, not a direct child)."""
    prefix = re.search(r"<(\w+):Assertion ", signed)
    assert prefix is not None
    start = prefix.start()
    end = signed.index(f"</{prefix.group(1)}:Assertion>") + len(f"</{prefix.group(1)}:Assertion>")
    wrapped = (
        signed[:start]
        + f"<{prefix.group(1)}:Advice>"
        + signed[start:end]
        + f"</{prefix.group(1)}:Advice>"
        + signed[end:]
    )
    assert "exactly one Assertion" in refused(wrapped)


def test_not_a_response_and_not_xml_are_refused() -> None:
    """Another root element, and bytes that are not XML."""
    assert "not a SAML Response" in refused('<x xmlns="urn:oasis:names:tc:SAML:2.0:protocol"/>')
    assert "not well-formed" in refused("<<<")
