"""Who may do what, for EVERY route of the app: a table of route × role with the expected status.

Two schools (tests/pages/conftest.py ``seed``): A, whose learners, courses, awards and credentials the
URLs name, and B. Roles: anonymous; a learner of A launched from course 2; the teacher of A's course 2
(the course the URLs name); a teacher of A's course 3; A's administrator; B's administrator (console
login); B's Moodle site administrator launching from B's course 2 (an LTI administrator of another
school, whose course happens to have the same Moodle id).

A route added to the app without a row here fails ``test_every_route_has_a_row``: whoever adds a route
decides who may use it. For the roles of school B, no page may show anything of school A (its name,
its learners), except the public verification routes, which exist to show it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from credbridge.connector.store.models import AuditEntry, Credential, MappingFile, OutboxItem, School, StatusList
from credbridge.connector.sync.worker import request_course_sync
from tests.pages.conftest import Env, csrf_token

ROLES = ("anonymous", "learner", "teacher", "other_teacher", "admin", "other_admin", "lti_other_admin")
#: school A's name and learners: never on a page school B's people can open (public routes apart)
SCHOOL_A_SECRETS = ("Tehnička škola Alpha", "Marko Horvat", "Petra Novak", "Iva Kovač", "O&#39;Brien", "O'Brien",
                    "ana@alpha.example", "marko@alpha.example")


@dataclass(frozen=True)
class Row:
    method: str
    rule: str
    #: anonymous, learner, teacher, other_teacher, admin, other_admin, lti_other_admin
    expect: tuple[int, int, int, int, int, int, int]
    url: str = ""  # the rule with the world's ids filled in ({award}, {learner}, …); default: the rule
    data: dict[str, Any] = field(default_factory=dict)
    public: bool = False  # shows school A's data to anyone on purpose (verification)


OK, FOUND, SEE_OTHER, BAD, NO, FORBIDDEN, MISSING, TOO_MANY = 200, 302, 303, 400, 401, 403, 404, 429
ACCEPTED, UNPROCESSABLE = 202, 422
ALL = lambda status: (status,) * 7  # noqa: E731

ROWS = [
    # --- LTI endpoints: nobody gets further without a platform's signed launch --------------------
    Row("GET", "/lti/login", ALL(BAD)),
    Row("POST", "/lti/login", ALL(BAD)),
    Row("POST", "/lti/launch", ALL(NO)),
    Row("GET", "/.well-known/jwks.json", ALL(OK)),
    Row("GET", "/lti/register", ALL(BAD)),
    Row("POST", "/lti/register", ALL(FORBIDDEN)),
    # deep linking needs a session that came from a deep-linking launch, by a teacher
    Row("GET", "/lti/deep-link", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN)),
    Row("POST", "/lti/deep-link", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
        data={"template": "CNC-OPERATOR"}),
    # --- minimal landing pages ------------------------------------------------------------------
    Row("GET", "/", (OK, OK, OK, OK, OK, OK, OK)),
    Row("GET", "/courses/<context_id>", (NO, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK),
        url="/courses/2"),
    # the learner named is the learner of the learner role, enrolled in course 2 (not in course 3)
    Row("GET", "/learners/<int:learner_id>", (NO, OK, OK, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN),
        url="/learners/{learner}"),
    Row("GET", "/my", (NO, FOUND, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN)),
    # --- teacher pages: only the course launched from, in the launch's school --------------------
    Row("GET", "/teacher/course/<context_id>", (NO, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK),
        url="/teacher/course/2"),
    Row("GET", "/teacher/course/<context_id>/matrix.json", (NO, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK),
        url="/teacher/course/2/matrix.json"),
    Row("POST", "/teacher/course/<context_id>/sync", (NO, FORBIDDEN, FOUND, FORBIDDEN, FORBIDDEN, FORBIDDEN, FOUND),
        url="/teacher/course/2/sync"),
    Row("GET", "/teacher/course/<context_id>/sync/<int:work_id>.json",
        (NO, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, MISSING), url="/teacher/course/2/sync/{work}.json"),
    Row("POST", "/teacher/course/<context_id>/awards",
        (NO, FORBIDDEN, FOUND, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN), url="/teacher/course/2/awards",
        data={"action": "hold", "award_id": "{award}", "reason": "matrix"}),
    Row("GET", "/teacher/course/<context_id>/awards/<int:award_id>/preview",
        (NO, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
        url="/teacher/course/2/awards/{award}/preview"),
    # --- learner pages: one's own records only --------------------------------------------------
    Row("GET", "/learner/", (NO, OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN)),
    Row("GET", "/learner/records.json", (NO, OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN)),
    # the award named is another learner's of school A; another school's people are told it does not exist
    Row("GET", "/learner/awards/<int:award_id>", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, MISSING, MISSING),
        url="/learner/awards/{award}"),
    # --- the school console: administrators, each of their own school ---------------------------
    Row("GET", "/admin/login", ALL(OK)),
    Row("POST", "/admin/login", ALL(NO), data={"email": "nobody@alpha.example", "password": "not the password"}),
    Row("POST", "/admin/logout", ALL(FOUND)),
    Row("GET", "/admin/", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK, OK)),
    Row("POST", "/admin/school", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, FOUND, FOUND, FOUND),
        data={"legal_name": "Renamed", "country": "HR"}),
    Row("POST", "/admin/policy", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, FOUND, FOUND, FOUND)),
    Row("GET", "/admin/connections", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK, OK)),
    Row("POST", "/admin/connections", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, FOUND, FOUND, FOUND),
        data={"name": "second", "base_url": "http://127.0.0.1:9", "token": "t" * 32}),
    Row("POST", "/admin/connections/<int:connection_id>/check",
        (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, FOUND, MISSING, MISSING), url="/admin/connections/{connection}/check"),
    Row("GET", "/admin/registrations", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK, OK)),
    Row("POST", "/admin/registrations", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, FOUND, FOUND, FOUND),
        data={"name": "M", "issuer": "https://m.example", "client_id": "c1",
              "auth_login_url": "https://m.example/a", "auth_token_url": "https://m.example/t",
              "key_set_url": "https://m.example/k"}),
    Row("POST", "/admin/registrations/<int:registration_id>/connection",
        (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, FOUND, MISSING, MISSING),
        url="/admin/registrations/{registration}/connection", data={"connection_id": ""}),
    Row("GET", "/admin/mappings", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK, OK)),
    Row("GET", "/admin/mappings/<int:file_id>", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, MISSING, MISSING),
        url="/admin/mappings/{mapping_file}"),
    Row("GET", "/admin/mappings/<int:file_id>/diff", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, MISSING, MISSING),
        url="/admin/mappings/{mapping_file}/diff"),
    Row("GET", "/admin/mappings/edit", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK, OK)),
    Row("POST", "/admin/mappings/edit", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, UNPROCESSABLE, UNPROCESSABLE,
                                         UNPROCESSABLE), data={"content": "school: [", "action": "check"}),
    Row("GET", "/admin/templates", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK, OK)),
    Row("GET", "/admin/outbox", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK, OK)),
    Row("POST", "/admin/outbox/<int:item_id>/retry", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, FOUND, MISSING, MISSING),
        url="/admin/outbox/{item}/retry"),
    Row("GET", "/admin/audit", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK, OK)),
    Row("GET", "/admin/keys", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK, OK)),
    Row("POST", "/admin/keys/rotate", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, FOUND, FOUND, FOUND)),
    # the operations page: figures and learner search of the administrator's own school; a learner of
    # school A is exported or erased only by school A's administrators (others are told it does not exist)
    Row("GET", "/admin/operations/", (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK, OK),
        url="/admin/operations/?q=Marko"),
    # a work item is started again only by its own school's administrators (this one is neither failed nor
    # stuck: A's administrator is told so, nothing changes)
    Row("POST", "/admin/operations/work/<int:item_id>/retry",
        (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, FOUND, MISSING, MISSING),
        url="/admin/operations/work/{work}/retry"),
    Row("GET", "/admin/operations/learners/<int:learner_id>/export.json",
        (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, MISSING, MISSING),
        url="/admin/operations/learners/{learner}/export.json"),
    Row("POST", "/admin/operations/learners/<int:learner_id>/erase",
        (NO, FORBIDDEN, FORBIDDEN, FORBIDDEN, FOUND, MISSING, MISSING),
        url="/admin/operations/learners/{learner}/erase",
        data={"confirm": "yes", "reason": "matrix"}),
    # --- probes for load balancers and Prometheus: nothing of any school; /metrics from this machine
    # (the test client's address) without a token, as metrics_allow says by default ---------------
    Row("GET", "/healthz", ALL(OK)),
    Row("GET", "/readyz", ALL(OK)),
    Row("GET", "/metrics", ALL(OK)),
    # --- public verification: anyone, on purpose -------------------------------------------------
    Row("GET", "/credentials/<uuid:credential_id>", ALL(OK), url="/credentials/{credential}", public=True),
    Row("GET", "/credentials/<uuid:credential_id>/certificate", ALL(OK), url="/credentials/{credential}/certificate",
        public=True),
    Row("GET", "/credentials/<uuid:credential_id>.<any(jwt, json, 'elm.json'):ext>", ALL(OK),
        url="/credentials/{credential}.jwt", public=True),
    Row("GET", "/schools/<slug>/did.json", ALL(OK), url="/schools/alpha/did.json", public=True),
    Row("GET", "/schools/<slug>/status/<int:list_id>", ALL(OK), url="/schools/alpha/status/{status_list}",
        public=True),
    Row("GET", "/schools/<slug>/logo", ALL(OK), url="/schools/alpha/logo", public=True),
    Row("GET", "/schools/<slug>/identity.css", ALL(OK), url="/schools/alpha/identity.css", public=True),
    Row("GET", "/static/<path:filename>", ALL(MISSING), url="/static/nothing-here.css"),
    Row("GET", "/static/pages/<path:filename>", ALL(OK), url="/static/pages/pages.css", public=True),
]


def _routes(app: Any) -> set[tuple[str, str]]:
    return {(method, rule.rule) for rule in app.url_map.iter_rules()
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})}


def unclassified(app: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(routes of the app without a row, rows for routes the app does not have)."""
    routes = _routes(app)
    rows = {(row.method, row.rule) for row in ROWS}
    return sorted(routes - rows), sorted(rows - routes)


def test_every_route_has_a_row(env: Env) -> None:
    assert len(ROWS) == len({(row.method, row.rule) for row in ROWS}), "a route has two rows"
    missing, stale = unclassified(env.app)
    assert not missing, f"routes without a row in {__file__} (decide who may use them): {missing}"
    assert not stale, f"rows for routes the app no longer has: {stale}"


def test_a_route_added_without_a_row_is_caught(env: Env) -> None:
    env.app.add_url_rule("/admin/new-thing/<int:thing_id>", "new_thing", lambda thing_id: "", methods=["POST"])
    missing, _stale = unclassified(env.app)
    assert ("POST", "/admin/new-thing/<int:thing_id>") in missing


def _ids(env: Env) -> dict[str, Any]:
    world = env.world
    with env.db.unit_of_work() as s:
        credential = s.scalars(select(Credential.uuid).where(Credential.award_id == world.award_issued)).first()
        status_list = s.scalars(select(StatusList.id).where(StatusList.school_id == world.school_a)).first()
        item = s.scalars(select(OutboxItem.id).where(OutboxItem.award_id == world.award_full)).first()
        mapping_file = s.scalars(select(MappingFile.id).where(MappingFile.school_id == world.school_a)).first()
        work = request_course_sync(s, world.connection_a, 2, "matrix").id
        school = s.get(School, world.school_a)  # the identity the public pages show
        school.brand_colour, school.logo, school.logo_type = "#1f5f8b", b"\x89PNG\r\n\x1a\n", "image/png"
    return {"award": world.award_pending, "learner": world.learner_plain, "credential": credential,
            "status_list": status_list, "item": item, "work": work, "connection": world.connection_a,
            "registration": world.registration_a, "mapping_file": mapping_file}


def _client(env: Env, role: str) -> FlaskClient:
    world = env.world
    if role == "anonymous":
        return env.client()
    if role == "learner":
        return env.learner(world.learner_plain)
    if role in ("teacher", "other_teacher"):
        return env.teacher("2" if role == "teacher" else "3")
    if role == "admin":
        return env.admin()
    if role == "other_admin":
        return env.admin(world.school_b)
    client = env.client()
    env.session_for(client, roles=["administrator", "instructor"], school_id=world.school_b, context_id="2",
                    registration_id=world.registration_b)
    return client


CASES = [pytest.param(row, role, id=f"{row.method} {row.rule} as {role}") for row in ROWS for role in ROLES]


@pytest.mark.parametrize(("row", "role"), CASES)
def test_route_as_role(env: Env, row: Row, role: str) -> None:
    ids = _ids(env)
    url = (row.url or row.rule).format(**ids)
    client = _client(env, role)
    if row.method == "GET":
        response = client.get(url)
    else:
        data = {key: str(value).format(**ids) for key, value in row.data.items()}
        response = client.post(url, data={"csrf_token": csrf_token(client, "/admin/login"), **data})
    expected = row.expect[ROLES.index(role)]
    body = response.get_data().decode("utf-8", errors="replace")
    assert response.status_code == expected, f"{row.method} {url} as {role}: {response.status_code}\n{body[:600]}"
    if role in ("other_admin", "lti_other_admin") and not row.public:
        leaked = [secret for secret in SCHOOL_A_SECRETS if secret in body]
        assert not leaked, f"{row.method} {url} shows school A's {leaked} to {role}"
    assert "Traceback" not in body and not re.search(r"\bat 0x[0-9a-f]+", body)


#: POSTs a platform sends cross-site: signed by the platform (id_token) and bound to the login's state
#: cookie instead of a form token
PLATFORM_POSTS = {"/lti/login", "/lti/launch"}
CSRF_CASES = [pytest.param(row, id=f"POST {row.rule}") for row in ROWS
              if row.method == "POST" and row.rule not in PLATFORM_POSTS]


@pytest.mark.parametrize("row", CSRF_CASES)
def test_every_form_post_needs_its_csrf_token(env: Env, row: Row) -> None:
    """Without the token, or with a forged one, every form is refused before its view runs, whoever
    sends it (the role the matrix lets through), and the page says the form expired."""
    ids = _ids(env)
    url = (row.url or row.rule).format(**ids)
    through = [role for role, status in zip(ROLES, row.expect, strict=True) if status != NO]
    client = _client(env, next((r for r in ("admin", "teacher", "learner") if r in through), "anonymous"))
    data = {key: str(value).format(**ids) for key, value in row.data.items()}
    with env.db.unit_of_work() as s:
        audited = s.scalar(select(func.count()).select_from(AuditEntry))
    for token in (None, "IjQ0ZDE.forged.token"):
        response = client.post(url, data={**data, **({"csrf_token": token} if token else {})})
        body = response.get_data(as_text=True)
        assert response.status_code == BAD, f"POST {url} with csrf_token={token}: {response.status_code}"
        assert "security token" in body or "expired" in body, body[:600]
    with env.db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == audited, f"POST {url} changed something"
