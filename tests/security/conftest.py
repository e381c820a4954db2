from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from credbridge.connector.store.db import Database
from tests.lti.support import LtiEnvironment, lti_environment

# the page tests' world (two schools, their learners, awards, admins) for the authorisation tests
from tests.pages.conftest import _compiled_catalogues, env, seeded_template  # noqa: F401


@pytest.fixture
def lti_env(sqlite_database: Database) -> Iterator[LtiEnvironment]:
    with lti_environment(sqlite_database) as environment:
        yield environment


@pytest.fixture
def pg_lti_env(postgres_database: Database) -> Iterator[LtiEnvironment]:
    """The same environment on PostgreSQL, which (unlike SQLite) refuses a value longer than its column."""
    with lti_environment(postgres_database) as environment:
        yield environment


@pytest.fixture
def client(lti_env: LtiEnvironment) -> FlaskClient:
    return lti_env.app.test_client()
