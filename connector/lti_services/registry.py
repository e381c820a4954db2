"""One ServiceClient (and its token cache) and one Ags (and its timestamp guard) per platform
registration, for the whole process: callers that post many scores should go through here rather
than build a client per call, which would fetch a token each time."""

from __future__ import annotations

import threading
from typing import Any

import requests

from credbridge.connector.keys import ToolKey, current_tool_key
from credbridge.connector.lti_services.ags import Ags
from credbridge.connector.lti_services.client import ServiceClient
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import LtiRegistration


class PlatformServices:
    def __init__(self, db: Database, *, http: requests.Session | None = None) -> None:
        self._db = db
        self._http = http
        self._clients: dict[tuple[Any, ...], tuple[ServiceClient, Ags]] = {}
        self._lock = threading.Lock()

    def _tool_key(self) -> ToolKey:
        with self._db.unit_of_work() as session:
            return current_tool_key(session)

    def _pair(self, registration: LtiRegistration) -> tuple[ServiceClient, Ags]:
        key = (registration.issuer, registration.client_id, registration.auth_token_url, registration.token_audience)
        with self._lock:
            if key not in self._clients:
                client = ServiceClient(client_id=registration.client_id, token_url=registration.auth_token_url,
                                       token_audience=registration.token_audience, key=self._tool_key,
                                       http=self._http)
                self._clients[key] = (client, Ags(client))
            return self._clients[key]

    def client(self, registration: LtiRegistration) -> ServiceClient:
        return self._pair(registration)[0]

    def ags(self, registration: LtiRegistration) -> Ags:
        return self._pair(registration)[1]
