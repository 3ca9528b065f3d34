"""A small SCIM 2.0 HTTP client that records every exchange for the simulators (httpx).

It knows no server internals: a base URL, a bearer token and RFC 7644 shapes. Query flags in
the base URL (Entra's ``?aadOptscim062020``, identity-providers.md §1) are sent on every request, as Entra
sends the Tenant URL's query string.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

from scimgate.simulate.report import Recorder

SCIM_JSON = "application/scim+json"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def split_base_url(url: str) -> tuple[str, list[tuple[str, str]]]:
    """``https://h/scim?aadOptscim062020`` -> (``https://h/scim``, ``[("aadOptscim062020", "")]``)."""
    parts = urlsplit(url)
    flags = parse_qsl(parts.query, keep_blank_values=True)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", "")), flags


def error_fields(response: httpx.Response) -> tuple[str | None, str]:
    """(scimType, detail) of an answer: from a SCIM Error body (RFC 7644 §3.12) when there is
    one, else the first 200 characters of the body."""
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:200] or "(empty body)"
    if isinstance(body, dict):
        return body.get("scimType"), str(body.get("detail") or response.text[:200])
    return None, response.text[:200]


MAX_RETRIES_AFTER_429 = 5
MAX_RETRY_AFTER_SECONDS = 30.0


def retry_after_seconds(response: httpx.Response) -> float:
    """The wait a 429 asks for: ``Retry-After`` in seconds (RFC 9110 §10.2.3; an HTTP date or
    a missing header count as 1 s), at most ``MAX_RETRY_AFTER_SECONDS``."""
    value = response.headers.get("retry-after", "")
    seconds = float(value) if value.isascii() and value.isdigit() else 1.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


class ScimClient:
    """HTTP calls to one SCIM service provider, each recorded in a :class:`Recorder`.

    ``call`` returns the response when its status is one of ``expect``, else records a failure
    (status and scimType, first detail) and returns None; transport errors are recorded as
    status ``transport``. A 429 is waited out for its ``Retry-After`` and the request sent again
    (up to ``MAX_RETRIES_AFTER_429`` times), as Entra does (docs/identity-providers.md §6); each is counted
    as throttled, not failed. ``on_request`` is called once per exchange (the progress bar).
    """

    def __init__(self, base_url: str, token: str, recorder: Recorder, *, user_agent: str,
                 timeout: float = 30.0, on_request: Callable[[], None] | None = None) -> None:
        base, flags = split_base_url(base_url)
        self.recorder = recorder
        self.on_request = on_request
        self.flags = flags
        self.http = httpx.Client(
            base_url=base,
            headers={"Authorization": f"Bearer {token}", "Accept": SCIM_JSON, "User-Agent": user_agent},
            timeout=timeout,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def call(self, kind: str, method: str, path: str, *, body: Any = None,
             params: dict[str, Any] | None = None, expect: Collection[int] = (200,)) -> httpx.Response | None:
        """Send one request; see the class docstring for what is recorded and returned.

        A 200/201 answer must carry a JSON body (RFC 7644 §3.3, §3.5.2: never "200 with an empty
        body", docs/identity-providers.md §2.5); otherwise it counts as a failure too.
        """
        query = list(self.flags) + list((params or {}).items())
        headers = {"Content-Type": SCIM_JSON} if body is not None else {}
        for attempt in range(MAX_RETRIES_AFTER_429 + 1):
            started = time.perf_counter()
            try:
                response = self.http.request(method, path, params=query, json=body, headers=headers)
            except httpx.HTTPError as exc:
                self.recorder.exchange(kind, time.perf_counter() - started)
                self._tick()
                self.recorder.failure(kind, "transport", None, f"{method} {path}: {exc!r}")
                return None
            self.recorder.exchange(kind, time.perf_counter() - started)
            self._tick()
            if response.status_code != 429 or 429 in expect or attempt == MAX_RETRIES_AFTER_429:
                break
            self.recorder.throttle()
            time.sleep(retry_after_seconds(response))
        if response.status_code not in expect:
            scim_type, detail = error_fields(response)
            self.recorder.failure(kind, str(response.status_code), scim_type,
                                  f"{method} {path} (expected {'/'.join(map(str, expect))}): {detail}")
            return None
        if response.status_code in (200, 201) and not self._json_body(response):
            self.recorder.failure(kind, str(response.status_code), "emptyBody",
                                  f"{method} {path}: {response.status_code} without a JSON body")
            return None
        return response

    def check(self, kind: str, ok: bool, detail: str) -> bool:
        """Record a failed read-back check (status ``mismatch``) unless ``ok``; returns ``ok``."""
        if not ok:
            self.recorder.failure(kind, "mismatch", None, detail)
        return ok

    def list_resources(self, kind: str, path: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """GET a ListResponse (RFC 7644 §3.4.2); checks its schema and that ``totalResults``,
        ``startIndex`` and ``itemsPerPage`` are JSON integers (Okta requires it, identity-providers.md §7)."""
        response = self.call(kind, "GET", path, params=params)
        if response is None:
            return None
        body = response.json()
        ok = (isinstance(body, dict) and LIST_RESPONSE in (body.get("schemas") or [])
              and all(type(body.get(k)) is int for k in ("totalResults", "startIndex", "itemsPerPage"))
              and isinstance(body.get("Resources", []), list))
        if not self.check(kind, ok, f"GET {path} {params}: not a ListResponse with integer counts: "
                                    f"{response.text[:200]}"):
            return None
        body.setdefault("Resources", [])
        return dict(body)

    def _tick(self) -> None:
        if self.on_request is not None:
            self.on_request()

    @staticmethod
    def _json_body(response: httpx.Response) -> bool:
        try:
            return isinstance(response.json(), dict)
        except ValueError:
            return False


def patch_body(operations: list[dict[str, Any]]) -> dict[str, Any]:
    """A PatchOp request (RFC 7644 §3.5.2) carrying ``operations``."""
    return {"schemas": [PATCH_OP], "Operations": operations}
