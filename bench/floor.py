"""The framework's floor for ``bench.request_path``: a FastAPI app whose one route answers a
constant JSON document, served by the same ASGI server as ``scimgate serve`` (uvicorn).

Whatever scimgate spends above this per request is its own work (``uvicorn bench.floor:app``).
No ``main``: ``python -m bench`` does not run it as a benchmark.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import Response

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
CONSTANT = b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0}'


@app.get("/floor")
async def floor() -> Response:
    """The constant answer (``async def``: no threadpool hop)."""
    return Response(CONSTANT, media_type="application/scim+json")
