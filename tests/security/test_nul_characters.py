"""Re-review: a NUL character anywhere in a request. PostgreSQL text cannot hold one, so a NUL in a
query, a form or the path reached the database and failed there: 500 on the console's searches and
filters, its forms, the console login, ``/lti/login`` and the schools' public routes (SQLite stored or
compared it quietly). No link or form of ours carries one: it is refused up front, naming the field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from credbridge.connector.store.db import Database
from credbridge.connector.store.models import School
from tests.lti.support import tool_runtime
from tests.pages.conftest import BASE_URL, Env, build_app, csrf_token, evidence_book, seed

GETS = [("admin", "/admin/operations/?q=a%00b"), ("admin", "/admin/audit?actor=a%00"),
        ("admin", "/admin/audit?action=a%00"), ("admin", "/admin/outbox?target=a%00"),
        ("anonymous", "/schools/a%00/logo"), ("anonymous", "/schools/a%00/did.json"),
        ("anonymous", "/schools/a%00/identity.css"), ("anonymous", "/schools/a%00/status/1"),
        ("anonymous", "/lti/login?iss=http://x%00&login_hint=1&target_link_uri=http://localhost/lti/launch")]
POSTS = [("/admin/school", {"legal_name": "A\x00", "country": "HR"}),
         ("/admin/connections", {"name": "n\x00", "base_url": "http://x", "token": "t"}),
         ("/admin/registrations", {"issuer": "https://x\x00", "client_id": "c", "auth_login_url": "https://x/a",
                                   "auth_token_url": "https://x/t", "key_set_url": "https://x/k"})]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world_env(request: pytest.FixtureRequest) -> Iterator[Env]:
    if request.param == "sqlite":
        yield request.getfixturevalue("env")
        return
    database: Database = request.getfixturevalue("postgres_database")
    world = seed(database, BASE_URL)
    runtime = tool_runtime(database, BASE_URL)
    yield Env(build_app(runtime, book=evidence_book(world)), runtime, database, world)


def _refused(response) -> None:  # type: ignore[no-untyped-def]
    body = response.get_data(as_text=True)
    assert response.status_code == 400, (response.status_code, body[:300])
    assert "NUL character" in body


@pytest.mark.parametrize(("who", "path"), GETS)
def test_a_nul_in_a_query_or_path_is_refused(world_env: Env, who: str, path: str) -> None:
    client = world_env.admin() if who == "admin" else world_env.client()
    _refused(client.get(path))


def test_a_nul_in_the_console_login_is_refused(world_env: Env) -> None:
    client = world_env.client()
    _refused(client.post("/admin/login", data={"csrf_token": csrf_token(client, "/admin/login"),
                                               "email": "admin@alpha.example\x00", "password": "x"}))


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_a_nul_in_a_form_is_refused_and_changes_nothing(world_env: Env, path: str, data: dict[str, str]) -> None:
    client = world_env.admin()
    _refused(client.post(path, data={"csrf_token": csrf_token(client, "/admin/"), **data}))
    with world_env.db.unit_of_work() as s:
        assert s.scalars(select(School.legal_name).where(School.id == world_env.world.school_a)).one() == \
            "Tehnička škola Alpha"


def test_a_nul_in_a_revocation_note_is_refused(world_env: Env) -> None:
    teacher = world_env.teacher("2")
    _refused(teacher.post("/teacher/course/2/awards", data={
        "csrf_token": csrf_token(teacher, "/teacher/course/2"), "action": "revoke",
        "award_id": str(world_env.world.award_issued), "confirmed": "yes", "public_reason": "issued_in_error",
        "reason": "note\x00"}))
