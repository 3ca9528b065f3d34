"""What the provisioning log keeps of a change (services.changes): a change that the shown value
hides is still recorded, with the whole values (a second email beside the primary, a given name
under an unchanged formatted name)."""

from __future__ import annotations

from scimgate.services.changes import attribute_changes, user_change

ADA = {"userName": "ada@example.com", "active": True,
       "emails": [{"value": "ada@example.com", "type": "work", "primary": True}],
       "name": {"formatted": "Ada Lovelace", "givenName": "Ada", "familyName": "Lovelace"}}


def test_an_added_secondary_email_is_a_change() -> None:
    after = {**ADA, "emails": [*ADA["emails"], {"value": "ada@home.example", "type": "home"}]}
    change = user_change(ADA, after)
    assert change["kind"] == "updated"
    [emails] = change["attributes"]
    assert emails["name"] == "emails" and "ada@home.example" in emails["after"]
    assert "ada@home.example" not in emails["before"]


def test_a_given_name_under_the_same_formatted_name_is_a_change() -> None:
    after = {**ADA, "name": {**ADA["name"], "givenName": "Augusta Ada"}}
    [name] = attribute_changes(ADA, after)
    assert name["name"] == "name" and "givenName Augusta Ada" in name["after"]


def test_the_same_document_changes_nothing_and_secrets_never_show() -> None:
    assert user_change(ADA, dict(ADA))["kind"] == "unchanged"
    after = {**ADA, "x509Certificates": [{"value": "sg_" + "a" * 43, "secret": "hidden"}]}
    [certificates] = attribute_changes(ADA, after)
    assert "hidden" not in str(certificates) and "sg_[redacted]" in str(certificates)
