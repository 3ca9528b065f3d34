"""Smoke: Entra's test connection and a POST/GET/DELETE round trip (RFC 7644 §3.3-§3.6)."""

from tests.support import Tenant


def test_entra_test_connection_returns_empty_list(tenant: Tenant) -> None:
    """Entra's probe: a filter for a random userName answers 200 with an empty ListResponse."""
    r = tenant.get("/Users?aadOptscim062020&filter=userName+eq+%2269deab11-4dac-4c9c-b802-6f791367c375%22")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/scim+json")
    assert r.json() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0, "Resources": [], "startIndex": 1, "itemsPerPage": 0,
    }


def test_create_get_delete_round_trip(tenant: Tenant) -> None:
    """POST 201 with Location and ETag; GET finds it; DELETE 204; GET 404."""
    r = tenant.post("/Users", json={"userName": "ada@example.com", "emails": [{"value": "ada@example.com", "type": "work"}]})
    assert r.status_code == 201, r.text
    user = r.json()
    assert r.headers["location"] == user["meta"]["location"]
    assert r.headers["etag"] == user["meta"]["version"]
    assert tenant.get(f"/Users/{user['id']}").json()["userName"] == "ada@example.com"
    assert tenant.delete(f"/Users/{user['id']}").status_code == 204
    assert tenant.get(f"/Users/{user['id']}").status_code == 404
