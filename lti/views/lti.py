"""The LTI endpoints: OIDC login, launch, the tool JWKS, deep linking and Dynamic Registration."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, url_for
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from credbridge.connector.keys import published_jwks
from credbridge.connector.runtime import Runtime
from credbridge.connector.store.models import (
    Course,
    LaunchSession,
    LtiRegistration,
    LtiUsedNonce,
    ResourceLinkTemplate,
)
from credbridge.lti import headers, sessions
from credbridge.lti.deep_linking import check_return_url
from credbridge.lti.launch import claims as c
from credbridge.lti.launch import state as login_state
from credbridge.lti.launch.errors import LaunchError, shown
from credbridge.lti.launch.identity import ANONYMOUS, display_name, link_learner
from credbridge.lti.launch.roles import ADMINISTRATOR, INSTRUCTOR, LEARNER, tool_roles
from credbridge.lti.launch.validation import ExpectedPlatform, validate_id_token
from credbridge.lti.registrations import find_registration, platform_origins

log = logging.getLogger("credbridge.lti")
bp = Blueprint("lti", __name__)
TEMPLATES_CUSTOM = "credential_templates"
MAX_TEMPLATE_CODE = 100  # ResourceLinkTemplate.template_code


def runtime() -> Runtime:
    return current_app.extensions["credbridge"]


def base_url() -> str:
    return runtime().settings.base_url


def launch_url() -> str:
    return base_url() + "/lti/launch"


def _allowed_target(uri: str) -> bool:
    base = urlsplit(base_url())
    target = urlsplit(uri)
    return ((target.scheme, target.netloc) == (base.scheme, base.netloc)
            and (target.path == (base.path or "/") or target.path.startswith(base.path.rstrip("/") + "/")))


@bp.route("/lti/login", methods=["GET", "POST"])
def login() -> Response:
    params = request.values
    for name in ("iss", "login_hint", "target_link_uri"):
        if not params.get(name):
            raise LaunchError("login", f"the login initiation has no {name}")
    issuer, target = params["iss"], params["target_link_uri"]
    if not _allowed_target(target):
        raise LaunchError("target_link_uri", f"{shown(target)} is not a URL of this tool ({base_url()})")
    kept = {k: params[k] for k in ("iss", "login_hint", "target_link_uri", "lti_message_hint", "client_id",
                                    "lti_deployment_id") if params.get(k)}
    with runtime().db.unit_of_work() as db:
        registration = find_registration(db, issuer, params.get("client_id"))
        headers.frame_for_school(registration.school_id)
        st = login_state.begin(db, secret=current_app.secret_key, registration_id=registration.id,  # type: ignore[arg-type]
                               target_link_uri=target, login_params=kept)
        auth_url, client_id = registration.auth_login_url, registration.client_id
    query = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
             "client_id": client_id, "redirect_uri": launch_url(), "login_hint": params["login_hint"],
             "state": st.state, "nonce": st.nonce}
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    response = redirect(auth_url + ("&" if "?" in auth_url else "?") + urlencode(query), code=302)
    response.set_cookie(st.cookie_name, st.key, max_age=int(login_state.STATE_LIFETIME.total_seconds()),
                        **sessions.cookie_kwargs(current_app))
    return response


#: a nonce is remembered while its token could be accepted, but never longer than this: a platform's
#: far-future ``exp`` must not fill the table (the login state, single use and 10 minutes, is the
#: stronger guard anyway: a token's nonce must equal the one this login sent)
NONCE_MEMORY = timedelta(days=1)


def _record_nonce(registration_id: int, nonce: str, exp: int) -> bool:
    now = datetime.now(UTC)
    until = now + NONCE_MEMORY
    if exp < until.timestamp():
        until = datetime.fromtimestamp(exp, UTC)
    expires = until + timedelta(seconds=runtime().settings.lti_leeway_seconds + 60)
    try:
        with runtime().db.unit_of_work() as db:
            # a nonce only has to be remembered while a token carrying it could still be accepted
            db.execute(delete(LtiUsedNonce).where(LtiUsedNonce.expires_at < now))
            db.add(LtiUsedNonce(registration_id=registration_id, nonce=nonce, expires_at=expires))
    except IntegrityError:
        return False
    return True


@bp.post("/lti/launch")
def launch() -> Any:
    form = request.form
    state_value = form.get("state", "")
    if form.get("error"):
        raise LaunchError("platform_error", f"the platform refused the login: {form['error']}"
                          + (f" ({form['error_description']})" if form.get("error_description") else ""), status=401)
    cookie = request.cookies.get(login_state.cookie_name_for(state_value)) if state_value else None
    try:
        with runtime().db.unit_of_work() as db:
            row = login_state.consume(db, state_value, cookie_value=cookie)
            registration = db.get(LtiRegistration, row.registration_id)
            assert registration is not None
            headers.frame_for_school(registration.school_id)
            expected = ExpectedPlatform(issuer=registration.issuer, client_id=registration.client_id,
                                        deployment_ids=frozenset(d.deployment_id for d in registration.deployments))
            key_set_url, registration_id, nonce = registration.key_set_url, registration.id, row.nonce
            origins = platform_origins(registration)
    except LaunchError as error:
        if error.check != "state_cookie":
            raise
        log.warning("LTI launch refused: check=state_cookie reason=%s", error.message)
        params = login_state.login_params(state_value, current_app.secret_key) or {}  # type: ignore[arg-type]
        _frame_cookie_blocked_page(params)
        return render_template("cookie_blocked.html", params=params), 401
    id_token = form.get("id_token")
    if not id_token:
        raise LaunchError("id_token", "the launch has no id_token")
    keys = current_app.extensions["credbridge.platform_keys"].for_url(key_set_url)
    claims = validate_id_token(id_token, platform=expected, keys=keys, expected_nonce=nonce, now=time.time(),
                               leeway=runtime().settings.lti_leeway_seconds,
                               use_nonce=lambda n, exp: _record_nonce(registration_id, n, exp))
    if claims[c.MESSAGE_TYPE] == c.DEEP_LINKING_REQUEST:
        check_return_url(claims[c.DL_SETTINGS]["deep_link_return_url"], origins)
    session_id, destination = _open_session(registration_id, claims)
    response = redirect(destination, code=303)
    sessions.set_session_cookie(response, session_id)
    response.delete_cookie(login_state.cookie_name_for(state_value), path="/")
    return response


def _frame_cookie_blocked_page(params: dict[str, str]) -> None:
    """The page offering "open in a new window" shows inside the platform's iframe, and its form
    (to /lti/login, which redirects to the platform's login) must be allowed to go there."""
    if not params.get("iss"):
        return
    with runtime().db.unit_of_work() as db:
        try:
            registration = find_registration(db, params["iss"], params.get("client_id"))
        except LaunchError:
            return
        headers.frame_for_school(registration.school_id)
        headers.allow_form_action(registration.auth_login_url)


def _open_session(registration_id: int, claims: dict[str, Any]) -> tuple[str, str]:
    # the claims are signed by the platform, not vouched for: each is read as the type and size it
    # must have (validation already refused what LTI requires), anything else counts as absent
    roles = tool_roles(claims.get(c.ROLES) or [])
    context = c.obj(claims.get(c.CONTEXT))
    context_id = c.identifier(context.get("id"))
    link_id = c.identifier(c.obj(claims.get(c.RESOURCE_LINK)).get("id"))
    custom = c.obj(claims.get(c.CUSTOM))
    message_type = claims[c.MESSAGE_TYPE]
    title = context.get("title") if isinstance(context.get("title"), str) else context.get("label")
    with runtime().db.unit_of_work() as db:
        registration = db.get(LtiRegistration, registration_id)
        assert registration is not None
        if ADMINISTRATOR in roles and registration.connection_id is None:
            # anyone holding the school's registration link can add a platform of their own; its site
            # administrator is not the school's until a school administrator links that platform
            log.warning("LTI launch: administrator role of registration %s not granted: the platform is not "
                        "linked to a Moodle connection of the school", registration.id)
            roles = [role for role in roles if role != ADMINISTRATOR]
        learner = link_learner(db, registration, claims) if LEARNER in roles or not roles else None
        templates = custom.get(TEMPLATES_CUSTOM)
        if message_type == c.RESOURCE_LINK_REQUEST and context_id and link_id and isinstance(templates, str):
            _record_templates(db, registration_id, context_id, link_id, templates,
                              c.text(c.obj(claims.get(c.AGS_ENDPOINT)).get("lineitem"), 2000))
        row = LaunchSession(
            id=sessions.new_session_id(), school_id=registration.school_id, registration_id=registration_id,
            deployment_id=claims.get(c.DEPLOYMENT_ID), context_id=context_id,
            context_title=(title.strip()[:500] or None) if isinstance(title, str) else None,
            resource_link_id=link_id, subject=claims.get("sub") or ANONYMOUS,
            learner_id=learner.id if learner else None, roles=roles,
            name=display_name(claims), email=c.text(claims.get("email"), 320),
            locale=c.text(c.obj(claims.get(c.LAUNCH_PRESENTATION)).get("locale"), 20),
            claims={k: claims[k] for k in (c.MESSAGE_TYPE, c.AGS_ENDPOINT, c.NRPS, c.CUSTOM, c.DL_SETTINGS,
                                           c.LAUNCH_PRESENTATION, c.TARGET_LINK_URI) if k in claims},
            expires_at=sessions.expiry(),
        )
        db.add(row)
        db.execute(delete(LaunchSession).where(LaunchSession.expires_at < datetime.now(UTC)))
        session_id, learner_id = row.id, row.learner_id
        # in the same transaction: where a teacher lands depends on whether sync has seen the course
        synced = (message_type != c.DEEP_LINKING_REQUEST and bool(set(roles) & {INSTRUCTOR, ADMINISTRATOR})
                  and _course_synced(db, registration.connection_id, context_id))
    log.info("LTI launch: %s roles=%s context=%s", message_type, roles, context_id)
    return session_id, _landing(message_type, roles, context_id, learner_id, synced)


def _landing(message_type: str, roles: list[str], context_id: str | None, learner_id: int | None,
             course_synced: bool) -> str:
    """Teachers land on their course, learners on their own records; the full pages when the app has
    them (and, for a teacher, once sync has seen the course), else the minimal ones of this package."""
    full = current_app.blueprints
    if message_type == c.DEEP_LINKING_REQUEST:
        return url_for("lti.deep_link_form")
    if roles and set(roles) & {INSTRUCTOR, ADMINISTRATOR} and context_id:
        if "teacher" in full and course_synced:
            return url_for("teacher.course", context_id=context_id)
        return url_for("pages.course", context_id=context_id)
    if learner_id is not None:
        if "learner" in full and LEARNER in roles:
            return url_for("learner.home")
        return url_for("pages.learner", learner_id=learner_id)
    return url_for("pages.home")


def _course_synced(db: Any, connection_id: int | None, context_id: str | None) -> bool:
    """Whether sync has seen the course on the Moodle connection the platform is linked to."""
    moodle_id = c.numeric_id(context_id) if context_id else None
    if moodle_id is None or connection_id is None:
        return False
    return db.scalars(select(Course.id).where(Course.connection_id == connection_id,
                                              Course.moodle_id == moodle_id)).first() is not None


def _record_templates(db: Any, registration_id: int, context_id: str, resource_link_id: str, codes: str,
                      lineitem_url: str | None) -> None:
    wanted = [code.strip() for code in codes.split(",") if 0 < len(code.strip()) <= MAX_TEMPLATE_CODE]
    have = set(db.scalars(select(ResourceLinkTemplate.template_code).where(
        ResourceLinkTemplate.registration_id == registration_id,
        ResourceLinkTemplate.resource_link_id == resource_link_id)))
    for code in wanted:
        if code not in have:
            db.add(ResourceLinkTemplate(registration_id=registration_id, context_id=context_id,
                                        resource_link_id=resource_link_id, template_code=code,
                                        lineitem_url=lineitem_url))


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    with runtime().db.unit_of_work() as db:
        keyset = published_jwks(db)
    response = jsonify(keyset)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


from credbridge.lti.views import deep_linking as _deep_linking  # noqa: E402,F401  (routes on bp)
from credbridge.lti.views import registration as _registration  # noqa: E402,F401  (routes on bp)
