from __future__ import annotations

from collections.abc import Iterator

import pytest

from credbridge.connector.store.db import Database
from tests.lti.support import LtiEnvironment, lti_environment


@pytest.fixture
def lti_env(sqlite_database: Database) -> Iterator[LtiEnvironment]:
    with lti_environment(sqlite_database) as env:
        yield env
