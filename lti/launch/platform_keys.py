"""The platforms' public keys (their JWKS), cached per URL.

PyJWKClient does the same job but fetches with urllib and without our timeout, session or an
injectable clock; this cache keeps its behaviour (TTL, one refetch on an unknown kid) and adds a
cool-down so a flood of tokens with random kids cannot make us hammer the platform.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import requests

from credbridge.lti.launch.errors import LaunchError, shown

CACHE_SECONDS = 300
REFETCH_COOLDOWN = 30
TIMEOUT = 10


class PlatformKeySet:
    def __init__(self, url: str, *, http: requests.Session | None = None, ttl: float = CACHE_SECONDS,
                 cooldown: float = REFETCH_COOLDOWN, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.http = http or requests.Session()
        self.ttl = ttl
        self.cooldown = cooldown
        self.clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    def _fetch(self) -> None:
        try:
            response = self.http.get(self.url, timeout=TIMEOUT, headers={"Accept": "application/json"})
            response.raise_for_status()
            data: Any = response.json()
            # PyJWKSet refuses an empty set; a platform between keys is not an error of ours
            keys = jwt.PyJWKSet.from_dict(data).keys if data.get("keys") else []
        except (requests.RequestException, ValueError, AttributeError, jwt.PyJWTError) as exc:
            raise LaunchError("platform_jwks", f"cannot load the platform keys from {self.url}: {exc}",
                              status=401) from exc
        self.fetches += 1
        self._keys = {k.key_id: k for k in keys if k.key_id}
        self._fetched_at = self.clock()

    def key_for(self, kid: str) -> Any:
        with self._lock:
            now = self.clock()
            if self._fetched_at is None or now - self._fetched_at > self.ttl:
                self._fetch()
            elif kid not in self._keys and now - self._fetched_at >= self.cooldown:
                self._fetch()  # the platform may have rotated: one refetch, then give up
            key = self._keys.get(kid)
        if key is None:
            raise LaunchError("kid", f"no key with kid {shown(kid)} in the platform JWKS {self.url}", status=401)
        return key.key


class StaticKeySet:
    """Keys given as a JWKS document (recorded fixtures, tests)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(jwks).keys if k.key_id}

    def key_for(self, kid: str) -> Any:
        key = self._keys.get(kid)
        if key is None:
            raise LaunchError("kid", f"no key with kid {shown(kid)} in the platform JWKS", status=401)
        return key.key


class KeySetRegistry:
    """One cache per platform JWKS URL for the whole process."""

    def __init__(self, http: requests.Session | None = None) -> None:
        self._sets: dict[str, PlatformKeySet] = {}
        self._lock = threading.Lock()
        self._http = http

    def for_url(self, url: str) -> PlatformKeySet:
        with self._lock:
            if url not in self._sets:
                self._sets[url] = PlatformKeySet(url, http=self._http)
            return self._sets[url]
