"""The school console: login (scrypt, rate limit), profile, connections, registrations, mapping
editor with errors at their line, templates, outbox, audit, keys."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy import func, select

from credbridge.connector.keys import school_from_registration_token
from credbridge.connector.passwords import hash_password, verify_password
from credbridge.connector.store.models import (
    AuditEntry,
    LmsConnection,
    LtiRegistration,
    MappingFile,
    OutboxItem,
    SigningKey,
    TemplateDefinition,
)
from credbridge.connector.store.secrets import Secret
from credbridge.emulator.dataset import Site
from tests.awards.conftest import MAPPING
from tests.lti.support import FIXTURES, serve
from tests.pages.conftest import ADMIN_PASSWORD, Env, csrf_token


def _login(env: Env, email: str, password: str):
    client = env.client()
    token = csrf_token(client, "/admin/login")
    return client, client.post("/admin/login", data={"csrf_token": token, "email": email, "password": password})


def test_password_hashes_are_scrypt_and_checked() -> None:
    hashed = hash_password("a long enough password")
    assert hashed.startswith("scrypt:") and "a long enough" not in hashed
    assert verify_password(hashed, "a long enough password")
    assert not verify_password(hashed, "a long enough passwore")
    assert not verify_password("pbkdf2:sha256:1$x$y", "anything")


def test_login_opens_the_console_of_the_own_school(env: Env) -> None:
    client, response = _login(env, env.world.admin_email, ADMIN_PASSWORD)
    assert response.status_code == 302
    assert "Tehnička škola Alpha" in client.get("/admin/").get_data(as_text=True)


def test_wrong_password_and_rate_limit(env: Env) -> None:
    for _ in range(3):
        _client, response = _login(env, env.world.admin_email, "wrong password!!")
        assert response.status_code == 401
    _client, response = _login(env, env.world.admin_email, ADMIN_PASSWORD)
    assert response.status_code == 429  # this client must wait now, even with the right password
    with env.db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == "admin.login_failed")) == 3
    # the e-mail itself is not locked (tests/security/test_login_throttle.py has the rest)


def test_school_profile_validation(env: Env) -> None:
    client = env.admin()
    token = csrf_token(client, "/admin/")
    client.post("/admin/school", data={"csrf_token": token, "legal_name": "New name", "country": "Croatia"})
    assert "Tehnička škola Alpha" in client.get("/admin/").get_data(as_text=True)
    client.post("/admin/school", data={"csrf_token": token, "legal_name": "New name", "country": "hr",
                                       "qa_type": "Institutional"})
    assert "New name" in client.get("/admin/").get_data(as_text=True)


def test_connection_token_is_never_shown_again(env: Env) -> None:
    client = env.admin()
    token = csrf_token(client, "/admin/connections")
    secret = "0123456789abcdef0123456789abcdef"
    client.post("/admin/connections", data={"csrf_token": token, "name": "second", "base_url": "https://m.example",
                                            "token": secret})
    page = client.get("/admin/connections").get_data(as_text=True)
    assert "second" in page and secret not in page
    with env.db.unit_of_work() as s:
        row = s.scalars(select(LmsConnection).where(LmsConnection.name == "second")).one()
        assert row.ws_token.reveal() == secret.encode()


def test_capability_check_reports_an_unreachable_moodle(env: Env) -> None:
    client = env.admin()
    token = csrf_token(client, "/admin/connections")
    page = client.post(f"/admin/connections/{env.world.connection_a}/check", data={"csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "Moodle refused some of what sync needs" in page
    with env.db.unit_of_work() as s:
        assert s.get(LmsConnection, env.world.connection_a).last_error  # kept for the connections page


@pytest.mark.parametrize(("token_name", "ok"), [("DEFAULT_TOKEN", True), ("NOCAP_TOKEN", False)])
def test_capability_check_against_the_moodle_emulator(env: Env, token_name: str, ok: bool) -> None:
    from credbridge.emulator import server as emulator

    site = Site.from_recording(FIXTURES / "testdata.json")
    with serve(emulator.create_app(site)) as moodle_url:
        with env.db.unit_of_work() as s:
            row = s.get(LmsConnection, env.world.connection_a)
            row.base_url, row.ws_token = moodle_url, Secret(getattr(emulator, token_name).encode())
        client = env.admin()
        token = csrf_token(client, "/admin/connections")
        page = client.post(f"/admin/connections/{env.world.connection_a}/check", data={"csrf_token": token},
                           follow_redirects=True).get_data(as_text=True)
    if ok:
        assert "every function credbridge needs is allowed" in page and "All allowed" in page
        # Moodle 4.5 has no newer quiz-attempts function (5.0+): nothing to add, so nothing shown
        assert "function mod_quiz_get_user_quiz_attempts" not in page and "state-failed" not in page
        # the activity table: every activity of the recorded site, visible
        assert "What Moodle shows the sync user, activity by activity" in page and "CNC fundamentals quiz" in page
        assert "Hidden from sync" not in page
    else:
        assert "Moodle refused some of what sync needs" in page and "To fix:" in page
        assert "All allowed" not in page and "state-failed" in page


def test_a_role_that_hides_activities_gets_a_red_line_never_all_allowed(env: Env) -> None:
    """The README's old role: every function answers, yet Moodle hides the quiz and the assignment."""
    from credbridge.emulator import server as emulator
    from credbridge.emulator.roles import RECORDED_README_ROLE
    from credbridge.emulator.ws import Principal

    site = Site.from_capability_recording(FIXTURES / "capabilities")
    tokens = {emulator.DEFAULT_TOKEN: Principal(3, RECORDED_README_ROLE)}
    with serve(emulator.create_app(site, tokens=tokens)) as moodle_url:
        with env.db.unit_of_work() as s:
            row = s.get(LmsConnection, env.world.connection_a)
            row.base_url, row.ws_token = moodle_url, Secret(emulator.DEFAULT_TOKEN.encode())
        client = env.admin()
        token = csrf_token(client, "/admin/connections")
        page = client.post(f"/admin/connections/{env.world.connection_a}/check", data={"csrf_token": token},
                           follow_redirects=True).get_data(as_text=True)
    assert "All allowed" not in page and "every activity is visible" not in page
    assert "Moodle hides 2 activities from the sync user: grant mod/assign:view, mod/quiz:view to its role." in page
    assert 'class="error-line"' in page and page.count("row-failed") == 2
    for name in ("Program a facing operation", "CNC fundamentals quiz"):
        assert name in page
    assert "grant mod/quiz:view to the sync user" in page


def test_manual_registration_and_dynamic_registration_url(env: Env) -> None:
    client = env.admin()
    page = client.get("/admin/registrations").get_data(as_text=True)
    link = re.search(r'value="(http://localhost/lti/register\?school=[^"]+)"', page)
    assert link, "the dynamic registration link is shown"
    token = link.group(1).split("school=", 1)[1]
    with env.app.app_context():
        assert school_from_registration_token(env.app.secret_key, unquote(token)) == env.world.school_a
    assert "/.well-known/jwks.json" in page
    token = csrf_token(client, "/admin/registrations")
    bad = client.post("/admin/registrations", data={"csrf_token": token, "issuer": "not a url"},
                      follow_redirects=True).get_data(as_text=True)
    assert "client_id" in bad
    client.post("/admin/registrations", data={
        "csrf_token": token, "name": "Moodle", "issuer": "https://moodle.alpha.example", "client_id": "abc",
        "auth_login_url": "https://moodle.alpha.example/mod/lti/auth.php",
        "auth_token_url": "https://moodle.alpha.example/mod/lti/token.php",
        "key_set_url": "https://moodle.alpha.example/mod/lti/certs.php"})
    with env.db.unit_of_work() as s:
        assert s.scalars(select(LtiRegistration).where(LtiRegistration.client_id == "abc")).one().school_id \
            == env.world.school_a
    # the new platform may now frame the pages
    assert "https://moodle.alpha.example" in client.get("/admin/").headers["Content-Security-Policy"]


def test_mapping_error_is_shown_at_its_line_and_nothing_is_saved(env: Env) -> None:
    client = env.admin()
    text = Path(MAPPING).read_text("utf-8")
    lines = text.splitlines()
    target = next(i for i, line in enumerate(lines) if line.strip().startswith("eqf_level: 3"))
    lines[target] = lines[target].replace("eqf_level: 3", "eqf_level: 11")
    broken = "\n".join(lines) + "\n"
    token = csrf_token(client, "/admin/mappings/edit")
    with env.db.unit_of_work() as s:
        before = s.scalar(select(func.count()).select_from(MappingFile))
    response = client.post("/admin/mappings/edit", data={"csrf_token": token, "filename": "vet.yaml",
                                                         "content": broken, "action": "save"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="line-{target + 1}" class="has-problem"' in html
    assert f"Line {target + 1}," in html
    with env.db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(MappingFile)) == before


def test_mapping_check_shows_diff_and_dry_run_then_saves_after_confirmation(env: Env) -> None:
    client = env.admin()
    text = Path(MAPPING).read_text("utf-8").replace("Reading technical drawings", "Reading engineering drawings")
    token = csrf_token(client, "/admin/mappings/edit")
    html = client.post("/admin/mappings/edit", data={"csrf_token": token, "filename": "vet-college.yaml",
                                                     "content": text, "action": "check"}).get_data(as_text=True)
    assert 'id="dry-run"' in html and 'id="version-plan"' in html
    assert "Reading engineering drawings" in html  # the comparison names the change
    response = client.post("/admin/mappings/edit", data={"csrf_token": token, "filename": "vet-college.yaml",
                                                         "content": text, "action": "save"})
    assert response.status_code == 200 and 'id="confirm"' in response.get_data(as_text=True)  # asks first
    confirm = re.search(r'name="confirm" value="([0-9a-f]+)"', response.get_data(as_text=True)).group(1)
    response = client.post("/admin/mappings/edit", data={"csrf_token": token, "filename": "vet-college.yaml",
                                                         "content": text, "action": "save", "confirm": confirm})
    assert response.status_code == 302
    with env.db.unit_of_work() as s:
        current = s.scalars(select(MappingFile).where(MappingFile.active.is_(True),
                                                      MappingFile.school_id == env.world.school_a)).one()
        assert "engineering" in current.content
        assert s.scalar(select(func.count()).select_from(TemplateDefinition)
                        .where(TemplateDefinition.school_id == env.world.school_a)) >= 3


def test_templates_page_shows_completeness(env: Env) -> None:
    html = env.admin().get("/admin/templates").get_data(as_text=True)
    assert "CNC-OPERATOR" in html and "Ready to issue" in html


def test_outbox_retry_of_a_dead_item(env: Env) -> None:
    with env.db.unit_of_work() as s:
        from credbridge.connector.store.models import Award

        award = s.get(Award, env.world.award_pending)
        award.status = "dead"
        item = s.scalars(select(OutboxItem).where(OutboxItem.award_id == award.id)).one()
        item.status, item.last_error, item.attempts = "dead", "HTTP 500 from issuer", 8
        item_id = item.id
    client = env.admin()
    html = client.get("/admin/outbox").get_data(as_text=True)
    assert "HTTP 500 from issuer" in html
    token = csrf_token(client, "/admin/outbox")
    client.post(f"/admin/outbox/{item_id}/retry", data={"csrf_token": token})
    with env.db.unit_of_work() as s:
        assert s.get(OutboxItem, item_id).status in ("pending", "failed")


def test_audit_log_is_paged(env: Env) -> None:
    client = env.admin()
    html = client.get("/admin/audit").get_data(as_text=True)
    assert "Page 1 of" in html and 'data-action="mapping_file.imported"' in html and "Mapping file saved" in html
    assert client.get("/admin/audit?page=999").status_code == 200


def test_key_rotation_keeps_the_old_key_published(env: Env) -> None:
    client = env.admin()
    token = csrf_token(client, "/admin/keys")
    before = client.get("/schools/alpha/did.json").get_json()
    client.post("/admin/keys/rotate", data={"csrf_token": token, "confirm": "rotate"})
    after = client.get("/schools/alpha/did.json").get_json()
    def names(doc: dict) -> set[str]:
        return {m["id"].split("#")[1].removesuffix("-jwk") for m in doc["verificationMethod"]}

    assert names(before) < names(after) and len(names(after)) == len(names(before)) + 1
    with env.db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(SigningKey).where(
            SigningKey.school_id == env.world.school_a, SigningKey.retired_at.is_(None))) == 1


def test_logout_ends_the_session(env: Env) -> None:
    client, _ = _login(env, env.world.admin_email, ADMIN_PASSWORD)
    token = csrf_token(client, "/admin/")
    client.post("/admin/logout", data={"csrf_token": token})
    assert client.get("/admin/").status_code == 401


def test_mapping_upload_is_checked_like_the_editor(env: Env) -> None:
    import io

    client = env.admin()
    token = csrf_token(client, "/admin/mappings/edit")
    response = client.post("/admin/mappings/edit", content_type="multipart/form-data", data={
        "csrf_token": token, "action": "check",
        "upload": (io.BytesIO(b"school: {code: x}\nunits: [\n"), "broken.yaml")})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    # the upload is checked, and the mapping keeps the name it has; the page says which file was read
    assert 'name="filename" value="vet-college.yaml"' in html and "broken.yaml" in html and "has-problem" in html


def test_a_registration_is_linked_to_one_of_the_schools_own_connections(env: Env) -> None:
    client = env.admin()
    token = csrf_token(client, "/admin/registrations")
    fields = {"csrf_token": token, "name": "Second Moodle", "issuer": "https://m2.alpha.example", "client_id": "m2",
              "auth_login_url": "https://m2.alpha.example/a", "auth_token_url": "https://m2.alpha.example/t",
              "key_set_url": "https://m2.alpha.example/k"}
    client.post("/admin/registrations", data=fields)
    with env.db.unit_of_work() as s:
        row = s.scalars(select(LtiRegistration).where(LtiRegistration.client_id == "m2")).one()
        row_id, other_school_connection = row.id, s.scalars(select(LmsConnection.id).where(
            LmsConnection.school_id == env.world.school_b)).first()
        assert row.connection_id is None
    assert "Not linked: teachers launching from this platform see no course." in \
        client.get("/admin/registrations").get_data(as_text=True)
    # school B's connection cannot be chosen, by id or otherwise
    refused = client.post(f"/admin/registrations/{row_id}/connection",
                          data={"csrf_token": token, "connection_id": str(other_school_connection)})
    assert refused.status_code == 404
    assert client.post(f"/admin/registrations/{row_id}/connection",
                       data={"csrf_token": token, "connection_id": "x"}).status_code == 400
    assert client.post(f"/admin/registrations/{env.world.registration_b}/connection",
                       data={"csrf_token": token, "connection_id": ""}).status_code == 404
    # added at the connection's own address, a registration is linked without being told
    client.post("/admin/registrations", data={**fields, "issuer": "http://127.0.0.1:9/", "client_id": "m9"})
    client.post(f"/admin/registrations/{row_id}/connection",
                data={"csrf_token": token, "connection_id": str(env.world.connection_a)})
    with env.db.unit_of_work() as s:
        assert s.get(LtiRegistration, row_id).connection_id == env.world.connection_a
        assert s.scalars(select(LtiRegistration.connection_id).where(LtiRegistration.client_id == "m9")).one() \
            == env.world.connection_a
        assert s.get(LtiRegistration, env.world.registration_b).connection_id is not None
        linked = s.scalars(select(AuditEntry).where(AuditEntry.action == "registration.linked")).one()
        assert linked.subject_id == str(row_id) and linked.details["connection"] == "moodle"


def test_a_new_connection_links_the_platform_registered_at_its_address(env: Env) -> None:
    with env.db.unit_of_work() as s:
        s.add(LtiRegistration(school_id=env.world.school_a, issuer="https://m3.alpha.example", client_id="m3",
                              auth_login_url="https://m3.alpha.example/a", auth_token_url="https://m3.alpha.example/t",
                              key_set_url="https://m3.alpha.example/k"))
        s.add(LtiRegistration(school_id=env.world.school_b, issuer="https://m3.alpha.example", client_id="b3",
                              auth_login_url="https://m3.alpha.example/a", auth_token_url="https://m3.alpha.example/t",
                              key_set_url="https://m3.alpha.example/k"))
    client = env.admin()
    token = csrf_token(client, "/admin/connections")
    client.post("/admin/connections", data={"csrf_token": token, "name": "third", "base_url": "https://m3.alpha.example/",
                                            "token": "0123456789abcdef0123456789abcdef"})
    with env.db.unit_of_work() as s:
        third = s.scalars(select(LmsConnection).where(LmsConnection.name == "third")).one()
        links = {r.client_id: r.connection_id for r in s.scalars(select(LtiRegistration).where(
            LtiRegistration.issuer == "https://m3.alpha.example"))}
    assert links == {"m3": third.id, "b3": None}  # never another school's registration


def test_the_console_does_not_show_what_a_non_moodle_address_answered(env: Env) -> None:
    # a school admin could otherwise point a connection at an internal service and read its answers
    def internal(environ, start_response):
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"INTERNAL-ONLY: aws_secret=abc123"]

    with serve(internal) as url:
        with env.db.unit_of_work() as s:
            s.get(LmsConnection, env.world.connection_a).base_url = url + "/?"
        client = env.admin()
        token = csrf_token(client, "/admin/connections")
        page = client.post(f"/admin/connections/{env.world.connection_a}/check", data={"csrf_token": token},
                           follow_redirects=True).get_data(as_text=True)
    assert "HTTP 403" in page and "text/plain" in page  # what an admin needs to fix the address
    assert "INTERNAL-ONLY" not in page and "aws_secret" not in page
    with env.db.unit_of_work() as s:
        assert "aws_secret" not in (s.get(LmsConnection, env.world.connection_a).last_error or "")
