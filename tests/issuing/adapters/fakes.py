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


class FakeEdc(FakeService):
    """EDC Issuer's public seal API: HTTP Basic, multipart upload, answers the sealed document."""

    def __init__(self, username: str = "edc-user", password: str = "edc-pass") -> None:  # noqa: S107 - a fake service
        super().__init__()
        self.credentials = (username, password)
        self.sealed: Counter[str] = Counter()

    def handle(self, request: Request) -> Response:
        if basic_auth(request) != self.credentials:
            return json_response({"code": "401", "message": "Unauthorized"}, 401)
        if request.path == "/api/v2/public/credentials/seal" and request.method == "POST":
            upload = request.files.get("file")
            if upload is None:
                return json_response({"code": "400", "message": "Required part 'file' is not present."}, 400)
            document = json.loads(upload.read())
            if "EuropeanDigitalCredential" not in document.get("type", []):
                return json_response({"code": "400", "message": "Not an EDC credential"}, 400)

            def commit() -> Response:
                with self.lock:
                    self.sealed[document["id"]] += 1
                return json_response({**document, "proof": {"type": "JAdES", "jws": "sealed"}})

            return self.faulted(commit)
        if request.path == "/api/v2/public/credentials/seal_batch" and request.method == "POST":
            out = []
            for upload in request.files.getlist("files"):
                document = json.loads(upload.read())
                with self.lock:
                    self.sealed[document["id"]] += 1
                out.append({**document, "proof": {"type": "JAdES"}})
            return json_response(out)
        return json_response({"code": "404", "message": "Not Found"}, 404)


class FakeBadgr(FakeService):
    """Canvas Credentials (Badgr) v2: OAuth2 password/refresh grants, assertions per BadgeClass."""

    def __init__(self, username: str = "admin@school", password: str = "badgr-pass", badgeclass: str = "BC1") -> None:  # noqa: S107
        super().__init__()
        self.username, self.password, self.badgeclass = username, password, badgeclass
        self.tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.assertions: dict[str, dict[str, Any]] = {}
        self.token_requests: list[str] = []

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def _new_token(self) -> Response:
        access, refresh = uuid.uuid4().hex, uuid.uuid4().hex
        self.tokens.add(access)
        self.refresh_tokens.add(refresh)
        return json_response({"access_token": access, "token_type": "Bearer", "expires_in": 86400,
                              "refresh_token": refresh, "scope": "rw:profile rw:issuer rw:backpack"})

    def handle(self, request: Request) -> Response:
        if request.path == "/o/token":
            grant = request.form.get("grant_type", "")
            with self.lock:
                self.token_requests.append(grant)
                if grant == "password" and (request.form.get("username"), request.form.get("password")) == (
                        self.username, self.password):
                    return self._new_token()
                if grant == "refresh_token" and request.form.get("refresh_token") in self.refresh_tokens:
                    self.refresh_tokens.discard(request.form["refresh_token"])
                    return self._new_token()
            return json_response({"error": "invalid_grant", "error_description": "Invalid credentials given."}, 400)
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.tokens:
            return json_response({"detail": "Authentication credentials were not provided."}, 401)
        prefix = f"/v2/badgeclasses/{self.badgeclass}/assertions"
        if request.path.startswith("/v2/badgeclasses/") and request.path != prefix:
            return json_response({"status": {"success": False, "description": "Not found"}, "result": []}, 404)
        if request.path == prefix and request.method == "GET":
            recipient = request.args.get("recipient")
            with self.lock:
                found = [a for a in self.assertions.values() if a["recipient"]["plaintextIdentity"] == recipient]
            return json_response({"status": {"success": True, "description": "ok"}, "result": found})
        if request.path == prefix and request.method == "POST":
            body = request.get_json()
            if not body.get("recipient", {}).get("identity"):
                return json_response({"status": {"success": False, "description": "Validation error"},
                                      "fieldErrors": {"recipient": ["This field is required."]}}, 400)

            def commit() -> Response:
                entity = self.new_id("A")
                assertion = {"entityId": entity, "entityType": "Assertion", "badgeclass": self.badgeclass,
                             "recipient": {"identity": "sha256$…", "plaintextIdentity": body["recipient"]["identity"],
                                           "type": "email", "hashed": True},
                             "evidence": body.get("evidence", []), "revoked": False,
                             "openBadgeId": f"https://api.badgr.io/public/assertions/{entity}"}
                with self.lock:
                    self.assertions[entity] = assertion
                return json_response({"status": {"success": True, "description": "ok"}, "result": [assertion]}, 201)

            return self.faulted(commit)
        if request.path.startswith("/v2/assertions/") and request.method == "DELETE":
            entity = request.path.rsplit("/", 1)[-1]
            with self.lock:
                if entity not in self.assertions:
                    return json_response({"status": {"success": False, "description": "Not found"}}, 404)
                self.assertions[entity]["revoked"] = True
                self.assertions[entity]["revocationReason"] = (request.get_json() or {}).get("revocation_reason")
            return json_response({"status": {"success": True, "description": "ok"}, "result": []})
        return json_response({"detail": "Not found."}, 404)


class FakeCredly(FakeService):
    """Credly Web Service API v1: Basic auth with the org token, badges filtered by issuer_earner_id."""

    def __init__(self, org: str = "org-1", token: str = "credly-token", template: str = "tpl-1") -> None:  # noqa: S107
        super().__init__()
        self.org, self.token, self.template = org, token, template
        self.badges: dict[str, dict[str, Any]] = {}

    def handle(self, request: Request) -> Response:
        if basic_auth(request) != (self.token, ""):
            return json_response({"data": {"message": "Unauthorized"}}, 401)
        base = f"/v1/organizations/{self.org}/badges"
        if request.path == base and request.method == "GET":
            wanted = request.args.get("filter", "").removeprefix("issuer_earner_id::")
            with self.lock:
                found = [b for b in self.badges.values() if b["issuer_earner_id"] == wanted]
            return json_response({"data": found, "metadata": {"count": len(found)}})
        if request.path == base and request.method == "POST":
            body = request.get_json()
            if body.get("badge_template_id") != self.template:
                return json_response({"data": {"message": "Badge template not found"}}, 422)

            def commit() -> Response:
                badge = {"id": self.new_id("b-"), "state": "pending", "issuer_earner_id": body.get("issuer_earner_id"),
                         "recipient_email": body["recipient_email"], "badge_template": {"id": self.template}}
                with self.lock:
                    self.badges[badge["id"]] = badge
                return json_response({"data": badge}, 201)

            return self.faulted(commit)
        if request.path.startswith(base + "/") and request.path.endswith("/revoke") and request.method == "PUT":
            badge_id = request.path[len(base) + 1:-len("/revoke")]
            with self.lock:
                if badge_id not in self.badges:
                    return json_response({"data": {"message": "Not found"}}, 404)
                self.badges[badge_id]["state"] = "revoked"
                self.badges[badge_id]["revoke_reason"] = request.get_json().get("reason")
            return json_response({"data": self.badges[badge_id]})
        return json_response({"data": {"message": "Not found"}}, 404)


class FakeAccredible(FakeService):
    """Accredible API v1: Token auth, credentials with custom attributes, search, bulk create, delete."""

    def __init__(self, api_key: str = "acc-key", group: int = 77) -> None:
        super().__init__()
        self.api_key, self.group = api_key, group
        self.credentials: dict[str, dict[str, Any]] = {}

    def _create(self, credential: dict[str, Any]) -> dict[str, Any] | None:
        if credential.get("group_id") != self.group or not credential.get("recipient", {}).get("email"):
            return None
        record = {**credential, "id": self.new_id(), "url": "https://www.credential.net/x"}
        with self.lock:
            self.credentials[record["id"]] = record
        return record

    def handle(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Token token={self.api_key}":
            return json_response({"errors": "Invalid API key"}, 401)
        if request.path == "/v1/credentials" and request.method == "POST":
            credential = (request.get_json() or {}).get("credential", {})
            if credential.get("group_id") != self.group:
                return json_response({"errors": ["Group can't be blank"]}, 422)
            return self.faulted(lambda: json_response({"credential": self._create(credential)}))
        if request.path == "/v1/credentials/bulk_create" and request.method == "POST":
            created = [self._create(c) for c in request.get_json()["credentials"]]
            return json_response({"credentials": created})
        if request.path == "/v1/credentials/search" and request.method == "POST":
            body = request.get_json()
            with self.lock:
                found = [c for c in self.credentials.values() if c["group_id"] == body.get("group_id")
                         and c["recipient"]["email"] == body.get("recipient", {}).get("email")]
            return json_response({"credentials": found})
        if request.path.startswith("/v1/credentials/") and request.method == "DELETE":
            with self.lock:
                removed = self.credentials.pop(request.path.rsplit("/", 1)[-1], None)
            return json_response({"credential": removed}) if removed else json_response({"errors": "Not found"}, 404)
        return json_response({"errors": "Not found"}, 404)


class FakeAgsPlatform(FakeService):
    """The two Moodle endpoints a "credential issued" score needs: the OAuth2 token endpoint
    (client-credentials with a JWT client assertion) and a line item's ``/scores``."""

    def __init__(self, client_id: str) -> None:
        super().__init__()
        self.client_id = client_id
        self.scores: list[tuple[str, dict[str, Any]]] = []

    def handle(self, request: Request) -> Response:
        import jwt

        if request.path == "/token":
            assertion = jwt.decode(request.form.get("client_assertion", ""), options={"verify_signature": False})
            if assertion.get("iss") != self.client_id or request.form.get("grant_type") != "client_credentials":
                return json_response({"error": "invalid_client"}, 401)
            return json_response({"access_token": "ags-token", "token_type": "Bearer", "expires_in": 3600,
                                  "scope": request.form.get("scope", "")})
        if request.path.endswith("/scores") and request.method == "POST":
            if request.headers.get("Authorization") != "Bearer ags-token":
                return json_response({"error": "unauthorised"}, 401)
            with self.lock:
                self.scores.append((request.path, json.loads(request.get_data())))
            return Response(status=204)
        return json_response({"error": "not found"}, 404)
