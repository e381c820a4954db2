"""OAuth2 client credentials with a signed JWT assertion (SF §4.1) and authorised service calls."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import requests

from credbridge.connector.keys import ToolKey
from credbridge.connector.lti_services.errors import ServiceError, TokenError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300
# refresh a cached token this long before the platform says it expires (clock skew, slow calls)
EARLY_EXPIRY = 60
DEFAULT_TIMEOUT = 20


class ServiceClient:
    """Talks to one platform registration's services as the tool.

    ``key`` is the tool's current signing key or a callable returning it (so a rotation is picked
    up without rebuilding the client). Tokens are cached per scope set until shortly before expiry.
    """

    def __init__(self, *, client_id: str, token_url: str, key: ToolKey | Callable[[], ToolKey],
                 token_audience: str | None = None, http: requests.Session | None = None,
                 clock: Callable[[], float] = time.time, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.client_id = client_id
        self.token_url = token_url
        self.token_audience = token_audience or token_url
        self._key = key
        self.http = http or requests.Session()
        self._clock = clock
        self.timeout = timeout
        self._tokens: dict[frozenset[str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _signing_key(self) -> ToolKey:
        return self._key() if callable(self._key) else self._key

    def client_assertion(self) -> str:
        now = int(self._clock())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": self.token_audience, "iat": now,
                  "exp": now + ASSERTION_LIFETIME, "jti": uuid.uuid4().hex}
        return self._signing_key().sign(claims)

    def access_token(self, scopes: Iterable[str]) -> str:
        scope_set = frozenset(scopes)
        if not scope_set:
            raise ValueError("at least one scope is needed for an access token")
        with self._lock:
            cached = self._tokens.get(scope_set)
            if cached and cached[1] > self._clock():
                return cached[0]
        form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.client_assertion(), "scope": " ".join(sorted(scope_set))}
        try:
            response = self.http.post(self.token_url, data=form, timeout=self.timeout,
                                      headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise TokenError("token", None, None, url=self.token_url, detail=f"cannot reach: {exc}") from exc
        body = _body(response)
        if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            raise TokenError("token", response.status_code, body, url=self.token_url)
        lifetime = int(body.get("expires_in", 3600))
        expires = self._clock() + max(lifetime - min(EARLY_EXPIRY, lifetime // 10), 1)
        with self._lock:
            self._tokens[scope_set] = (body["access_token"], expires)
        return str(body["access_token"])

    def forget_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def call(self, service: str, method: str, url: str, scopes: Iterable[str], *, accept: str | None = None,
             content_type: str | None = None, json_body: Any = None, params: dict[str, Any] | None = None,
             ok: Iterable[int] = (200, 201)) -> requests.Response:
        """One authorised request; a non-OK status raises ServiceError naming the service."""
        headers = {"Authorization": f"Bearer {self.access_token(scopes)}"}
        if accept:
            headers["Accept"] = accept
        data = None
        if json_body is not None:
            import json

            data = json.dumps(json_body).encode("utf-8")
            headers["Content-Type"] = content_type or "application/json"
        try:
            response = self.http.request(method, url, headers=headers, data=data, params=params,
                                         timeout=self.timeout)
        except requests.RequestException as exc:
            raise ServiceError(service, None, None, url=url, detail=f"cannot reach: {exc}") from exc
        if response.status_code not in set(ok):
            raise ServiceError(service, response.status_code, _body(response), url=url)
        return response


def _body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text.strip()
