"""The SCIM error hierarchy (RFC 7644 §3.12): one class per ``scimType`` or HTTP status.

scimgate uses scim2-models' exception classes, which carry ``status`` and ``scim_type``, and
adds the statuses RFC 7644 Table 8 names that scim2-models has no class for (405, 415, 429,
500). Raise these anywhere below the HTTP edge; ``scimgate.http.errors`` renders every one as
an ``urn:ietf:params:scim:api:messages:2.0:Error`` document.
"""

from __future__ import annotations

from typing import Any

from scim2_models import (
    ForbiddenException,
    InvalidFilterException,
    InvalidPathException,
    InvalidSyntaxException,
    InvalidValueException,
    MutabilityException,
    NoTargetException,
    NotFoundException,
    PayloadTooLargeException,
    PreconditionFailedException,
    SCIMException,
    TooManyException,
    UnauthorizedException,
    UniquenessException,
)

from scimgate.scim.schema import ERROR_SCHEMA

ScimError = SCIMException

__all__ = [
    "ConflictException",
    "ForbiddenException",
    "InternalErrorException",
    "InvalidFilterException",
    "InvalidPathException",
    "InvalidSyntaxException",
    "InvalidValueException",
    "MethodNotAllowedException",
    "MutabilityException",
    "NoTargetException",
    "NotFoundException",
    "NotImplementedException",
    "PayloadTooLargeException",
    "PreconditionFailedException",
    "ScimError",
    "TooManyException",
    "TooManyRequestsException",
    "UnauthorizedException",
    "UniquenessException",
    "UnsupportedMediaTypeException",
    "error_document",
]


class MethodNotAllowedException(SCIMException):
    """405: the endpoint does not support this HTTP method (RFC 7644 §3.12, Table 8).

    ``allow`` are the methods the endpoint does support, sent in the ``Allow`` header that a 405
    must carry (RFC 9110 §15.5.6); left empty by raisers, the HTTP layer works them out from
    the routes.
    """

    status = 405
    _default_detail = "This HTTP method is not supported on this endpoint."

    def __init__(self, *, allow: tuple[str, ...] = (), detail: str | None = None, **context: Any):
        super().__init__(detail=detail, **context)
        self.allow = allow


class UnsupportedMediaTypeException(SCIMException):
    """415: the request body is not JSON (RFC 7644 §3.1, §3.8)."""

    status = 415
    _default_detail = "Send the request body as application/scim+json or application/json."


class TooManyRequestsException(SCIMException):
    """429: the workspace token used up its request budget (RFC 6585 §4, RFC 7644 §3.12).

    ``retry_after`` is the number of whole seconds before the next request will be accepted.
    """

    status = 429
    _default_detail = "Too many requests for this SCIM token; retry after the time in Retry-After."

    def __init__(self, *, retry_after: int, detail: str | None = None, **context: Any):
        super().__init__(detail=detail, **context)
        self.retry_after = retry_after


class NotImplementedException(SCIMException):
    """501: an endpoint RFC 7644 defines that this server does not offer (``/Me``, §3.11;
    ``/Bulk``, §3.7, advertised as unsupported in ServiceProviderConfig)."""

    status = 501
    _default_detail = "This SCIM endpoint is not implemented by this server."


class ConflictException(SCIMException):
    """409 without a ``scimType``: concurrent requests on the same resources kept colliding
    (RFC 7644 §3.12 Table 8 "409 Conflict"; the request changed nothing and may be retried)."""

    status = 409
    _default_detail = ("Concurrent requests changed the same resources; this request changed nothing. "
                       "Retry it.")


class InternalErrorException(SCIMException):
    """500: an unexpected fault. The detail names the request id, never a traceback."""

    status = 500
    _default_detail = "Internal server error."


def error_document(exc: SCIMException) -> dict[str, Any]:
    """The RFC 7644 §3.12 JSON body for ``exc``: ``status`` is a string, ``scimType`` if any."""
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(exc.status), "detail": exc.detail}
    if exc.scim_type:
        body["scimType"] = exc.scim_type
    return body
