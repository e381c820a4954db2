"""Re-review: the manual registration form cut every field at 500 characters, but the platform's
name holds 200 and its client ID 255: on PostgreSQL (which refuses a value longer than its column,
where SQLite stores it) a long name or client ID was a 500. Each field is now refused at its column's
length, naming it, and nothing is saved."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from credbridge.connector.store.models import LtiRegistration
from tests.pages.conftest import Env, csrf_token
from tests.security.test_nul_characters import world_env  # noqa: F401  (both databases)

FIELDS = {"name": "Moodle", "issuer": "https://m.example", "client_id": "c1", "auth_login_url": "https://m.example/a",
          "auth_token_url": "https://m.example/t", "key_set_url": "https://m.example/k"}


@pytest.mark.parametrize(("field", "value"), [("name", "N" * 300), ("client_id", "c" * 300),
                                              ("issuer", "https://m.example/" + "i" * 600),
                                              ("key_set_url", "https://m.example/" + "k" * 600)])
def test_a_registration_field_longer_than_its_column(world_env: Env, field: str, value: str) -> None:  # noqa: F811
    client = world_env.admin()
    response = client.post("/admin/registrations", follow_redirects=True,
                           data={"csrf_token": csrf_token(client, "/admin/registrations"), **FIELDS, field: value})
    assert response.status_code == 200, response.status_code
    assert f"Too long: {field}" in response.get_data(as_text=True)
    with world_env.db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(LtiRegistration)
                        .where(LtiRegistration.issuer.like("https://m.example%"))) == 0
