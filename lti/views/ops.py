"""What load balancers, orchestrators and Prometheus ask the web side.

* ``GET /healthz`` — the process is up and serving (no database touched): a liveness probe.
* ``GET /readyz`` — the database answers and its schema is at this release's migration head: a
  readiness probe. A web process of a new release that starts before ``credbridge db upgrade`` says
  503 here, so the proxy keeps sending traffic to the old processes (README, Deployment: upgrading).
* ``GET /metrics`` — Prometheus text format (:mod:`credbridge.connector.metrics`). Readable with
  ``Authorization: Bearer <metrics_token>``, or without a token from an address in ``metrics_allow``
  (default: this machine) *when the request did not come through a proxy*: a request carrying
  ``X-Forwarded-For`` came from outside through the reverse proxy, whose own address is local.

:func:`install_request_ids` binds a request id to every log line of a request (``connector.logs``).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from sqlalchemy import text

from credbridge.connector import logs, metrics
from credbridge.connector.runtime import Runtime
from credbridge.connector.store import migrate

log = logging.getLogger("credbridge.web")
bp = Blueprint("ops", __name__)
REQUEST_ID_HEADER = "X-Request-ID"
_head_revision: dict[str, str | None] = {}


def _runtime() -> Runtime:
    return current_app.extensions["credbridge"]


@bp.get("/healthz")
def healthz() -> Response:
    response = Response("ok\n", content_type="text/plain; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def _expected_head(url: str) -> str | None:
    # the scripts ship with the release: read the head once per process
    if url not in _head_revision:
        _head_revision[url] = migrate.head_revision(url)
    return _head_revision[url]


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    db = _runtime().db
    checks: dict[str, Any] = {}
    ready = True
    try:
        started = time.perf_counter()
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
        current, head = migrate.current_revision(db.engine), _expected_head(db.url)
        checks["migrations"] = {"ok": current == head, "current": current, "head": head}
        ready = current == head
    except Exception as exc:  # any failure to reach the database means: not ready
        log.warning("readyz: database not reachable: %s", type(exc).__name__)
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        ready = False
    response = jsonify({"ready": ready, "checks": checks})
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if ready else 503


def metrics_allowed() -> bool:
    settings = _runtime().settings
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    header = request.headers.get("Authorization", "")
    if token and header[:7].lower() == "bearer " and hmac.compare_digest(header[7:].strip().encode(), token.encode()):
        return True
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False  # through the proxy: the peer address is the proxy's, not the asker's
    try:
        peer = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(net, strict=False) for net in settings.metrics_allow)


@bp.get("/metrics")
def metrics_page() -> Response:
    if not metrics_allowed():
        response = Response("metrics need a bearer token (metrics_token) or an allowed address (metrics_allow)\n",
                            status=401, content_type="text/plain; charset=utf-8")
        response.headers["WWW-Authenticate"] = 'Bearer realm="credbridge metrics"'
        return response
    registry = current_app.extensions.get("credbridge.metrics_registry")
    if registry is None:
        registry = metrics.web_registry(_runtime().db)
        current_app.extensions["credbridge.metrics_registry"] = registry
    response = Response(metrics.exposition(registry), content_type=metrics.CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response


def install_request_ids(app: Flask) -> None:
    """Bind a request id for the request's log lines and send it back as ``X-Request-ID``."""

    @app.before_request
    def _bind_request_id() -> None:
        rid = logs.new_request_id(request.headers.get(REQUEST_ID_HEADER))
        g.credbridge_request_id = rid
        g.credbridge_request_token = logs.request_id.set(rid)

    @app.after_request
    def _send_request_id(response: Response) -> Response:
        rid = g.get("credbridge_request_id")
        if rid:
            response.headers[REQUEST_ID_HEADER] = rid
        return response

    @app.teardown_request
    def _unbind_request_id(_exc: BaseException | None) -> None:
        token = g.pop("credbridge_request_token", None)
        if token is not None:
            try:
                logs.request_id.reset(token)
            except ValueError:  # reset in another context than set (streamed responses): just clear it
                logs.request_id.set(None)
