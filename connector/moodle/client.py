"""The Moodle REST client: one POST per WS call, Moodle's error object turned into exceptions.

Politeness and resilience live here so every caller gets them: a per-site concurrency limit, a
token-bucket request rate, pooled connections, timeouts, and retries with exponential backoff and
jitter on transient failures only (connection errors, timeouts, 5xx, 429 with Retry-After). A
Moodle error object is an answer, not a transient failure, so it is never retried. The token is
registered with the log redactor and never appears in an exception or log line.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from credbridge.connector.http import retry_after
from credbridge.connector.logs import register_secret
from credbridge.connector.moodle.errors import MalformedResponse, TransportError, error_from_response

log = logging.getLogger(__name__)

REST_PATH = "/webservice/rest/server.php"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def encode_params(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Flatten nested lists/dicts into PHP-style form fields: ``{'a': [{'b': 1}]}`` -> ``a[0][b]=1``.

    Moodle's external API reads parameters through PHP's array syntax; requests would send a list as
    repeated keys, which PHP collapses to the last value.
    """
    fields: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}[{key}]", item)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        elif value is None:
            return
        elif isinstance(value, bool):
            fields.append((prefix, "1" if value else "0"))
        else:
            fields.append((prefix, str(value)))

    for name, value in params.items():
        walk(name, value)
    return fields


class TokenBucket:
    """At most ``rate`` requests a second on average, bursts up to ``burst``."""

    def __init__(self, rate: float | None, burst: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1, burst)
        self._tokens = float(self.capacity)
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self.rate:
            return
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            time.sleep(wait)


class MoodleClient:
    """Calls Moodle WS functions on one site with one token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_concurrency: int = 4,
        rate_per_second: float | None = 20.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.endpoint = self.base_url + REST_PATH
        self._token = token
        register_secret(token)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self.max_concurrency = max_concurrency
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._bucket = TokenBucket(rate_per_second, burst=max_concurrency)
        self.calls: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        if session is None:
            session = requests.Session()
            # requests re-reads the proxy variables (walking the whole environment) and ~/.netrc on
            # every call when trust_env is on: a tenth of a sync's CPU. Read them once, for this site.
            session.proxies.update(requests.utils.get_environ_proxies(self.endpoint))
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            session.trust_env = False
        self.session = session
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(4, max_concurrency))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "credbridge-sync/0.1"

    def __repr__(self) -> str:
        return f"<MoodleClient {self.base_url}>"

    @property
    def total_calls(self) -> int:
        with self._count_lock:
            return sum(self.calls.values())

    def reset_calls(self) -> None:
        with self._count_lock:
            self.calls.clear()

    def close(self) -> None:
        self.session.close()

    def call(self, function: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call ``function``; returns the decoded JSON or raises a typed error."""
        fields = [("wstoken", self._token), ("wsfunction", str(function)), ("moodlewsrestformat", "json"),
                  *encode_params(params or {})]
        attempt = 0
        while True:
            attempt += 1
            with self._count_lock:
                self.calls[str(function)] += 1
            try:
                response = self._post(fields)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt > self.retries:
                    raise TransportError(function, f"{type(exc).__name__} after {attempt} attempts") from None
                self._pause(attempt, None, function, type(exc).__name__)
                continue
            if response.status_code in RETRY_STATUSES:
                if attempt > self.retries:
                    raise TransportError(function, f"HTTP {response.status_code} after {attempt} attempts",
                                         status=response.status_code)
                self._pause(attempt, retry_after(response), function, f"HTTP {response.status_code}")
                continue
            return self._decode(function, response)

    def _post(self, fields: list[tuple[str, str]]) -> requests.Response:
        self._bucket.acquire()
        with self._slots:
            return self.session.post(self.endpoint, data=fields, timeout=self.timeout)

    def _pause(self, attempt: int, retry_after: float | None, function: str, why: str) -> None:
        if retry_after is not None:
            delay = min(retry_after, self.max_backoff)
        else:
            # full jitter: spreads the retries of many workers hitting one recovering site
            delay = random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))
        log.warning("%s: %s, retrying in %.2fs (attempt %d of %d)", function, why, delay, attempt, self.retries + 1)
        self._sleep(delay)

    def _decode(self, function: str, response: requests.Response) -> Any:
        status = response.status_code
        text = response.text
        if status != 200:
            # the body goes to the operator's log only: the error itself is shown to school admins in the
            # console, and a school admin must not read what some internal address answers (SSRF)
            log.warning("%s: HTTP %d from %s, body starts %r", function, status, self.endpoint, text[:200])
            kind = response.headers.get("Content-Type", "no content type").split(";")[0]
            raise MalformedResponse(function, f"unexpected HTTP status ({kind}, {len(text)} bytes)", status=status)
        try:
            body = json.loads(text)
        except ValueError:
            kind = "an HTML page" if text.lstrip()[:1] == "<" else "invalid JSON"
            raise MalformedResponse(function, f"{kind} instead of JSON ({len(text)} bytes)", status=status) from None
        if isinstance(body, dict) and "exception" in body and "errorcode" in body:
            raise error_from_response(function, body)
        if isinstance(body, dict) and body.get("warnings"):
            for warning in body["warnings"]:
                log.info("%s: warning %s %s: %s", function, warning.get("item", ""), warning.get("itemid", ""),
                         warning.get("message") or warning.get("warningcode"))
        return body


