"""The application factory: ``create_app(settings)`` builds a fresh app with its own engine.

No engine or session exists at import time, so every test (and every worker process) gets its
own (STYLE.md §9). The app refuses to serve a database that is not migrated to the newest
schema and says which command to run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from scimgate.admin.routes import install as install_admin_pages
from scimgate.admin.routes import router as admin_pages_router
from scimgate.admin.sso_routes import router as admin_sso_router
from scimgate.admin.webhook_routes import router as webhook_pages_router
from scimgate.config import Settings, resolve_secret_key
from scimgate.events.deliverer import Deliverer
from scimgate.http.admin_api import PREFIX as ADMIN_API_PREFIX
from scimgate.http.admin_api import failure_response as admin_api_failure
from scimgate.http.admin_api import router as admin_api_router
from scimgate.http.audit_api import router as audit_api_router
from scimgate.http.deps import AppState
from scimgate.http.errors import install_error_handlers
from scimgate.http.events_api import router as events_api_router
from scimgate.http.group_routes import router as group_router
from scimgate.http.metrics import forget_this_worker
from scimgate.http.middleware import EdgeMiddleware
from scimgate.http.openapi import router as openapi_router
from scimgate.http.ops_routes import router as ops_router
from scimgate.http.scim_routes import router as scim_router
from scimgate.http.surfaces import register_surface
from scimgate.services.audit_journal import AuditJournal
from scimgate.services.rate_limit import make_rate_limiter
from scimgate.services.sign_in_guard import make_sign_in_guard
from scimgate.services.sso_throttle import make_sso_throttle
from scimgate.services.token_cache import TokenCache
from scimgate.sso.routes import ME_API, me_failure
from scimgate.sso.routes import router as sso_router
from scimgate.storage.db import (
    loop_reader_factory,
    loop_writer_factory,
    make_engine,
    read_only_factory,
    session_factory,
    transaction,
)
from scimgate.storage.driver_reads import driver_reads_for
from scimgate.storage.migrate import is_behind


class DatabaseNotMigrated(RuntimeError):
    """The database is behind the code's schema."""


class ScimgateApp(FastAPI):
    """FastAPI with the edge middleware (http.middleware.EdgeMiddleware) as the outermost layer.

    FastAPI wraps every app's middlewares in three of its own: Starlette's ServerErrorMiddleware,
    its OpenTelemetry exception hook and its app-wide body limit, and ``FastAPI.__call__`` asks
    on every HTTP request whether an OpenTelemetry provider is configured. Here each only costs
    CPU (together about 7 % of a GET by id): the edge answers every exception nothing handled as
    a 500 in the surface's format and never lets it reach the layer above; scimgate configures no
    OpenTelemetry provider (its metrics are Prometheus', http.metrics); the body limit is the
    edge's (FastAPI's is off without ``max_body_size``). So an HTTP request starts at the edge
    (docs/decisions.md, "The edge outermost"); the lifespan goes through FastAPI as before."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        await self.middleware_stack(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        layer: object = stack
        while not isinstance(layer, EdgeMiddleware):
            layer = getattr(layer, "app", None)
            if layer is None:  # no edge among the layers: FastAPI's own stack
                return stack
        return layer


def create_app(settings: Settings | None = None) -> FastAPI:
    """A FastAPI app serving SCIM under ``/api/scim/v2`` for ``settings``."""
    settings = settings or Settings()
    settings = settings.model_copy(update={"secret_key": resolve_secret_key(settings)})
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if is_behind(engine):  # a newer release may have migrated ahead (rolling upgrade)
            raise DatabaseNotMigrated(
                "The database is not migrated to the current schema: run `scimgate db upgrade` "
                "(or `make serve`, which does it) and start again."
            )
        journal.start()
        deliverer = None
        if settings.webhook_deliverer:
            deliverer = Deliverer(sessions, app.state.scimgate.readers, settings)
        if deliverer is not None:
            deliverer.start()  # webhooks go out off the request path (events.deliverer)
        yield
        if deliverer is not None:
            deliverer.stop()
        journal.close()  # the reads' audit rows still waiting (services.audit_journal)
        engine.dispose()
        for own in (loop_readers, loop_writers):
            if own is not None:
                own.kw["bind"].dispose()
        if driver_reads is not None:
            driver_reads.close()
        forget_this_worker()

    app = ScimgateApp(title="scimgate", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    sessions = session_factory(engine)
    journal = AuditJournal(lambda: transaction(sessions), interval=settings.audit_flush_seconds)
    token_cache = TokenCache(settings.token_cache_seconds) if settings.token_cache_seconds > 0 else None
    if token_cache is not None:
        token_cache.watch(sessions)
    loop_readers = loop_reader_factory(engine)
    loop_writers = loop_writer_factory(engine)
    driver_reads = driver_reads_for(engine)
    app.state.scimgate = AppState(settings=settings, engine=engine, sessions=sessions,
                                  readers=read_only_factory(sessions), journal=journal, tokens=token_cache,
                                  loop_readers=loop_readers, loop_writers=loop_writers,
                                  driver_reads=driver_reads)
    app.state.scimgate.extras["rate_limiter"] = make_rate_limiter(settings, app.state.scimgate.sessions)
    app.state.scimgate.extras["sign_in_guard"] = make_sign_in_guard(settings, app.state.scimgate.sessions)
    app.state.scimgate.extras["sso_throttle"] = make_sso_throttle(settings, app.state.scimgate.sessions)
    install_error_handlers(app)
    register_surface(app, ADMIN_API_PREFIX, admin_api_failure)
    register_surface(app, ME_API, me_failure)
    # Routers in the order requests are routed: FastAPI tries each included router's routes in
    # turn, so the busiest paths (probes, SCIM Users and Groups) come first.
    app.state.routers = [ops_router, scim_router, group_router, openapi_router, webhook_pages_router,
                         admin_sso_router, admin_pages_router, events_api_router, audit_api_router,
                         admin_api_router, sso_router]
    app.include_router(ops_router)
    app.include_router(scim_router)
    app.include_router(group_router)
    app.include_router(openapi_router)  # before the admin API's catch-all route
    app.include_router(webhook_pages_router)  # before the admin pages' catch-all route
    app.include_router(admin_sso_router)  # before the admin pages' catch-all
    install_admin_pages(app)
    app.include_router(events_api_router)  # before the admin API's catch-all route
    app.include_router(audit_api_router)  # before admin_api's catch-all
    app.include_router(admin_api_router)
    app.include_router(sso_router)
    app.add_middleware(EdgeMiddleware, max_body_bytes=settings.max_body_bytes, engine=engine)
    return app
