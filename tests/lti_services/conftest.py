from __future__ import annotations

from collections.abc import Iterator

import pytest

from credbridge.connector.keys import current_tool_key
from credbridge.connector.lti_services import ServiceClient
from credbridge.connector.store.db import Database
from tests.lti.support import LtiEnvironment, lti_environment


@pytest.fixture
def lti_env(sqlite_database: Database) -> Iterator[LtiEnvironment]:
    with lti_environment(sqlite_database) as env:
        yield env


@pytest.fixture
def client(lti_env: LtiEnvironment) -> ServiceClient:
    def key():  # type: ignore[no-untyped-def]
        with lti_env.runtime.db.unit_of_work() as db:
            return current_tool_key(db)

    return ServiceClient(client_id=lti_env.tool.client_id, token_url=lti_env.platform_url + "/mod/lti/token.php",
                         key=key)
