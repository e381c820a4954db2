"""Re-review: ids and page numbers that arrive in a query string or a form (not in the path, where
``lti/limits.py``'s converter bounds them) never reach the database beyond what an integer column
holds. Before, each of these answered 500 ("Python int too large to convert to SQLite INTEGER")."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from credbridge.connector.store.models import AuditEntry, MappingFile
from tests.pages.conftest import Env, csrf_token
from tests.security.test_nul_characters import world_env  # noqa: F401  (both databases)

HUGE = "9" * 30


def _mapping_file(env: Env) -> int:
    with env.db.unit_of_work() as s:
        return s.scalars(select(MappingFile.id).where(MappingFile.school_id == env.world.school_a)).one()


@pytest.mark.parametrize("path", [
    f"/admin/mappings/edit?from={HUGE}",
    "/admin/mappings/{file}/diff?against=" + HUGE,
    f"/admin/audit?page={HUGE}",
    f"/admin/operations/?q={HUGE}",
])
def test_console_query_numbers_beyond_any_id(env: Env, path: str) -> None:
    response = env.admin().get(path.format(file=_mapping_file(env)))
    assert response.status_code in (200, 404), (path, response.status_code)
    assert "Something went wrong on our side" not in response.get_data(as_text=True)


def test_a_huge_restore_version_is_no_version(env: Env) -> None:
    """The editor opens on the current mapping, as for any version the school does not have."""
    response = env.admin().get(f"/admin/mappings/edit?from={HUGE}")
    assert response.status_code == 404


def test_the_audit_log_beyond_its_last_page(env: Env) -> None:
    with env.db.unit_of_work() as s:
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.school_id == env.world.school_a).limit(1))
    response = env.admin().get(f"/admin/audit?page={HUGE}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "No entries." in html and "data-action=" not in html  # an empty page, not a failure


@pytest.mark.parametrize(("path", "field"), [
    ("/admin/registrations/{registration}/connection", "connection_id"),
    ("/admin/registrations", "connection_id"),
])
def test_console_form_ids_beyond_any_id(env: Env, path: str, field: str) -> None:
    client = env.admin()
    data = {"csrf_token": csrf_token(client, "/admin/registrations"), field: HUGE, "issuer": "https://m.example",
            "client_id": "c9", "auth_login_url": "https://m.example/a", "auth_token_url": "https://m.example/t",
            "key_set_url": "https://m.example/k"}
    response = client.post(path.format(registration=env.world.registration_a), data=data)
    assert response.status_code == 400, response.status_code
    assert "connection_id" in response.get_data(as_text=True)


def test_teacher_award_ids_beyond_any_id(env: Env) -> None:
    client = env.teacher("2")
    response = client.post("/teacher/course/2/awards", data={
        "csrf_token": csrf_token(client, "/teacher/course/2"), "action": "hold", "award_id": HUGE, "reason": "x"})
    assert response.status_code == 400, response.status_code
    assert "award_id" in response.get_data(as_text=True)


# --- ids between PostgreSQL's INTEGER (2**31 - 1) and SQLite's (2**63 - 1) --------------------------
# Every id column is INTEGER: 64 bits in SQLite but 32 in PostgreSQL, where an id of 2**31 or more fails
# in the database ("integer out of range", a 500) unless it is refused before. Checked on both databases
# for every route of the route × role matrix that takes an id, as the first role the matrix lets through.

PG_INTEGER_OVERFLOW = [2**31, 2**63 - 1]


def _through(row: Any) -> str:
    from tests.security.test_route_matrix import ROLES

    allowed = [role for role, status in zip(ROLES, row.expect, strict=True) if status in (200, 302, 303, 422)]
    return next((r for r in allowed if r in ("admin", "teacher", "learner")), allowed[0] if allowed else "admin")


def test_every_route_with_an_id_beyond_a_postgresql_integer(world_env: Env) -> None:  # noqa: F811
    from tests.security.test_route_matrix import ROWS, _client, _ids

    ids = _ids(world_env)
    rows = [row for row in ROWS if "<int:" in row.rule or any("{" in str(v) for v in row.data.values())]
    assert len(rows) >= 12, [row.rule for row in rows]
    failures = []
    for number in PG_INTEGER_OVERFLOW:
        huge = {key: (number if isinstance(value, int) else value) for key, value in ids.items()}
        for row in rows:
            url = (row.url or row.rule).format(**huge)
            client = _client(world_env, _through(row))
            if row.method == "GET":
                response = client.get(url)
            else:
                data = {key: str(value).format(**huge) for key, value in row.data.items()}
                response = client.post(url, data={"csrf_token": csrf_token(client, "/admin/login"), **data})
            body = response.get_data(as_text=True)
            if response.status_code not in (400, 403, 404) or "Something went wrong on our side" in body:
                failures.append((row.method, url, response.status_code))
    for number in PG_INTEGER_OVERFLOW:
        admin = world_env.admin()
        for path in (f"/admin/mappings/edit?from={number}", f"/admin/operations/?q={number}",
                     f"/admin/mappings/{ids['mapping_file']}/diff?against={number}", f"/admin/audit?page={number}",
                     f"/teacher/course/2?work={number}"):
            response = (world_env.teacher("2") if path.startswith("/teacher") else admin).get(path)
            if response.status_code >= 500:
                failures.append(("GET", path, response.status_code))
    assert not failures, failures
