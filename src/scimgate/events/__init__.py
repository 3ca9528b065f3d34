"""Lifecycle events out of scimgate (issue 15, docs/events.md).

- ``outbox``: :func:`~scimgate.events.outbox.emit` records an event in the caller's transaction
  (written at its commit, so an event exists exactly when its change committed);
- ``catalogue``: the event types and the shapes of their ``data``;
- ``cursor``: the opaque paging cursors of the events API;
- ``targets``: which webhook URLs may be called (SSRF rules), checked when an endpoint is added
  and again when it is connected to;
- ``signing``: Standard Webhooks secrets and signatures;
- ``webhooks``: endpoints (add, list, remove, rotate a secret) and manual redelivery;
- ``deliverer``: the worker that turns events into deliveries and sends them, off the request path.
"""
