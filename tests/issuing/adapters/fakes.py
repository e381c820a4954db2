"""Fake issuing services on 127.0.0.1 (werkzeug, port 0) that behave like the real ones: success,
4xx with the service's error body, 5xx, timeouts (after committing), and 429 with Retry-After.

Each fake keeps what it issued, so tests can count issuances per idempotency key or recipient. The
fakes do NOT deduplicate by idempotency key (unless asked): exactly-once must come from credbridge's
reconcile-before-retry, not from a forgiving target.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from credbridge.connector.issuing.adapters.webhook import SignatureError, verify_signature

Handler = Callable[[Request], Response]


@dataclass
class Faults:
    """What the next requests do. ``script`` is consumed first (one entry per issuing request), then
    the seeded random rates apply. Entries: ok, 500, 503, 429, 400, timeout_after_commit,
    timeout_before_commit."""

    script: list[str] = field(default_factory=list)
    rate_500: float = 0.0
    rate_timeout_after_commit: float = 0.0
    rate_429: float = 0.0
    delay: float = 0.0  # added to every request
    hang_seconds: float = 3.0  # how long a "timeout" answer takes (longer than the client's read timeout)
    retry_after: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            if self.script:
                return self.script.pop(0)
            r = self._rng.random()
        if r < self.rate_500:
            return "500"
        r -= self.rate_500
        if r < self.rate_timeout_after_commit:
            return "timeout_after_commit"
        r -= self.rate_timeout_after_commit
        if r < self.rate_429:
            return "429"
        return "ok"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json", headers=headers)


class FakeService:
    """Run a WSGI handler on 127.0.0.1 in a thread; ``url`` is its base URL."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)

    def handle(self, request: Request) -> Response:  # pragma: no cover - overridden
        raise NotImplementedError

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self.lock:
            self.requests.append((request.method, request.path))
        if self.faults.delay:
            time.sleep(self.faults.delay)
        return self.handle(request)(environ, start_response)

    def start(self) -> FakeService:
        self._server = make_server("127.0.0.1", 0, self, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def new_id(self, prefix: str = "") -> str:
        return f"{prefix}{next(self._ids)}-{uuid.uuid4().hex[:8]}"

    def faulted(self, commit: Callable[[], Response]) -> Response:
        """Apply the next fault around ``commit`` (which records the issuance and builds the answer)."""
        fault = self.faults.next()
        if fault == "500":
            return json_response({"error": "internal error"}, 500)
        if fault == "503":
            return json_response({"error": "maintenance"}, 503)
        if fault == "429":
            return json_response({"error": "rate limited"}, 429, {"Retry-After": str(self.faults.retry_after)})
        if fault == "400":
            return json_response({"error": "bad request", "detail": "scripted rejection"}, 400)
        if fault == "timeout_before_commit":
            time.sleep(self.faults.hang_seconds)
            return json_response({"error": "too late"}, 504)
        response = commit()
        if fault == "timeout_after_commit":
            time.sleep(self.faults.hang_seconds)
        return response


class FakeWebhookReceiver(FakeService):
    """The receiver side of :mod:`credbridge.connector.issuing.adapters.webhook`."""

    def __init__(self, secret: str, *, honour_idempotency: bool = False) -> None:
        super().__init__()
        self.secret = secret
        self.honour_idempotency = honour_idempotency
        self.by_key: dict[str, dict[str, Any]] = {}
        self.issued: Counter[str] = Counter()  # idempotency key -> how many credentials were made
        self.revoked: dict[str, str] = {}
        self.rejected_signatures = 0

    def handle(self, request: Request) -> Response:
        body = request.get_data()
        try:
            verify_signature(self.secret, request.headers.get("X-Credbridge-Timestamp"),
                             request.headers.get("X-Credbridge-Signature"), body)
        except SignatureError as exc:
            with self.lock:
                self.rejected_signatures += 1
            return json_response({"error": "bad signature", "detail": str(exc)}, 401)
        if request.method == "GET":
            key = request.args.get("idempotency_key", "")
            with self.lock:
                record = self.by_key.get(key)
            return json_response(record) if record else json_response({"error": "not found"}, 404)
        document = json.loads(body)
        if document.get("type") == "award.revoke":
            with self.lock:
                self.revoked[document["external_id"]] = document["reason"]
            return json_response({"ok": True})
        key = document["idempotency_key"]
        if request.headers.get("Idempotency-Key") != key:
            return json_response({"error": "Idempotency-Key header does not match the body"}, 400)

        def commit() -> Response:
            with self.lock:
                if self.honour_idempotency and key in self.by_key:
                    return json_response(self.by_key[key])
                record = {"id": self.new_id("wh-"), "award_id": document["award"]["award_id"]}
                self.by_key[key] = record
                self.issued[key] += 1
            return json_response(record, 201)

        return self.faulted(commit)


def basic_auth(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password
