"""Re-review: ids and page numbers that arrive in a query string or a form (not in the path, where
``lti/limits.py``'s converter bounds them) never reach the database beyond what an integer column
holds. Before, each of these answered 500 ("Python int too large to convert to SQLite INTEGER")."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from credbridge.connector.store.models import AuditEntry, MappingFile
from tests.pages.conftest import Env, csrf_token

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
