"""The school administrator's console. Every query is scoped to the asking session's school."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from babel.core import Locale, UnknownLocaleError
from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import format_date, get_locale, gettext
from sqlalchemy import func, select

from credbridge.connector import school_policy
from credbridge.connector.awards.audit import (
    AuditFilter,
    audit,
    audit_choices,
    audit_entries,
    subject_names,
    template_titles,
)
from credbridge.connector.awards.catalogue import (
    MappingVersion,
    active_mapping_file,
    mapping_history,
    mapping_version,
)
from credbridge.connector.issuing.formats.eu_authority import is_country_code
from credbridge.connector.issuing.keys import ensure_school_key, rotate_school_key
from credbridge.connector.keys import REGISTRATION_LINK_LIFETIME, school_registration_token
from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.moodle.functions import MoodleApi
from credbridge.connector.passwords import verify_login
from credbridge.connector.registrations import connection_at, link_unlinked_registrations
from credbridge.connector.store.models import (
    AdminUser,
    Award,
    Credential,
    LaunchSession,
    Learner,
    LmsConnection,
    LtiRegistration,
    MappingFile,
    OutboxItem,
    School,
    SigningKey,
    SyncRun,
    TemplateDefinition,
    UnitDefinition,
)
from credbridge.connector.store.secrets import Secret
from credbridge.connector.sync.capabilities import check_connection, store_check
from credbridge.lti.auth import current_session, require_role, require_session
from credbridge.lti.limits import database_id, page_number
from credbridge.lti.pages import admin_labels, charts, login_throttle
from credbridge.lti.pages.admin_labels import AWARD_STATUS, OUTBOX_FILTERS, outbox_state
from credbridge.lti.pages.award_actions import ActionRefused, retry_outbox_item
from credbridge.lti.pages.common import BRAND_COLOUR, who
from credbridge.lti.pages.mapping_editor import (
    MappingCheck,
    check_mapping,
    confirmation_token,
    current_titles,
    mapping_changes,
    needs_confirmation,
    save_mapping,
    text_diff,
)
from credbridge.lti.pages.queries import weekly_issuance
from credbridge.lti.pages.runtime import base_url, evaluation_sources, unit_of_work
from credbridge.lti.pages.security import check_csrf
from credbridge.lti.sessions import SESSION_COOKIE, cookie_kwargs, expiry, new_session_id, set_session_cookie

log = logging.getLogger(__name__)
bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(check_csrf)


@bp.context_processor
def _labels() -> dict[str, Any]:
    # the console's templates name codes through these labels (translated), never as raw codes
    return {"L": admin_labels}


def _school_id() -> int:
    return require_session().school_id


@bp.get("/login")
def login_form() -> Any:
    return render_template("pages/admin_login.html")


@bp.post("/login")
def login() -> Any:
    email = request.form.get("email", "").strip().casefold()[:320]
    password = request.form.get("password", "")[:1024]
    client = request.remote_addr
    with unit_of_work() as session:
        verdict = login_throttle.assess(session, client)
    if verdict.retry_after > 0:
        # checked before any password: an early attempt costs nothing and tells nothing
        log.warning("console login throttled: client=%s retry_after=%.0fs", client, verdict.retry_after)
        flash(gettext("Too many failed logins from your address. Try again in %(seconds)d s.",
                      seconds=int(login_throttle.retry_after_header(verdict))), "error")
        page = make_response(render_template("pages/admin_login.html", email=email), 429)
        page.headers["Retry-After"] = login_throttle.retry_after_header(verdict)
        return page
    if verdict.delay:
        login_throttle.pause(verdict.delay)
    with unit_of_work() as session:
        user = session.scalars(select(AdminUser).where(AdminUser.email == email)).first()
        if not verify_login(user.password_hash if user else None, password):
            audit(session, school_id=user.school_id if user else None, actor=login_throttle.actor(client),
                  action=login_throttle.FAILED, subject_type="admin_user", subject_id=email[:100])
            failed = True
        else:
            assert user is not None
            failed = False
            user.last_login_at = datetime.now(UTC)
            session_id = new_session_id()
            session.add(LaunchSession(id=session_id, school_id=user.school_id, subject=f"admin:{user.id}",
                                      admin_user_id=user.id, roles=["administrator"], name=user.display_name,
                                      email=user.email, expires_at=expiry()))
            audit(session, school_id=user.school_id, actor=user.email, action="admin.login",
                  subject_type="admin_user", subject_id=user.id)
    if failed:
        flash(gettext("Wrong email or password."), "error")
        return render_template("pages/admin_login.html", email=email), 401
    response = make_response(redirect(url_for(".home")))
    set_session_cookie(response, session_id)
    return response


@bp.post("/logout")
def logout() -> Any:
    launch = current_session()
    if launch is not None:
        with unit_of_work() as session:
            row = session.get(LaunchSession, launch.id)
            if row is not None:
                row.expires_at = datetime.now(UTC)
    response = make_response(redirect(url_for(".login_form")))
    kwargs = cookie_kwargs(current_app)
    response.delete_cookie(SESSION_COOKIE, path=kwargs["path"], secure=kwargs["secure"], samesite=kwargs["samesite"])
    return response


@bp.get("/")
@require_role("administrator")
def home() -> Any:
    school_id = _school_id()
    with unit_of_work() as session:
        school = session.get(School, school_id)
        weeks = weekly_issuance(session, school_id)
        counts = dict(session.execute(
            select(Award.status, func.count()).where(Award.school_id == school_id)
            .group_by(Award.status)).all())
        mapping = active_mapping_file(session, school_id)
        setup = {"connections": session.scalar(select(func.count()).select_from(LmsConnection)
                                               .where(LmsConnection.school_id == school_id)) or 0,
                 "registrations": session.scalar(select(func.count()).select_from(LtiRegistration)
                                                 .where(LtiRegistration.school_id == school_id)) or 0,
                 "templates": session.scalar(select(func.count()).select_from(TemplateDefinition)
                                             .where(TemplateDefinition.school_id == school_id,
                                                    TemplateDefinition.is_current.is_(True))) or 0}
        session.expunge_all()
    labels = {start: format_date(start, "d MMM") for start, _n in weeks}
    chart = charts.weekly_bars(weeks, labels, title=gettext("Credentials issued per week"),
                               description=gettext("Number of credentials issued in each of the last 12 weeks."))
    statuses = [(status, counts[status]) for status in AWARD_STATUS if counts.get(status)]
    return render_template("pages/admin_home.html", school=school, weeks=weeks, week_labels=labels, chart=chart,
                           statuses=statuses, mapping=mapping, setup=setup, country=_country_name(school.country),
                           did_url=url_for("verify.did_document", slug=school.slug))


def _country_name(code: str) -> str:
    try:
        return Locale.parse(str(get_locale() or "en")).territories.get(code.upper()) or code
    except (ValueError, UnknownLocaleError):
        return code


#: what a logo may be: PNG or JPEG by their first bytes (an SVG can carry script, so it is not taken)
LOGO_TYPES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))
LOGO_MAX_BYTES = 512 * 1024


def _logo(upload: Any) -> tuple[bytes, str] | str:
    """The uploaded logo and its media type, or what is wrong with it."""
    data = upload.read(LOGO_MAX_BYTES + 1)
    if len(data) > LOGO_MAX_BYTES:
        return gettext("The logo is larger than 512 KB; nothing was changed.")
    for magic, media_type in LOGO_TYPES:
        if data.startswith(magic):
            return data, media_type
    return gettext("The logo must be a PNG or JPEG image; nothing was changed.")


def _web_address(url: str) -> bool:
    """An absolute http(s) URL with a host and nothing a browser would strip or fold (spaces, controls)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and url.isprintable() and " " not in url


@bp.post("/school")
@require_role("administrator")
def school_update() -> Any:
    """The awarding body and how the pages and certificates show the school (logo, colour, place,
    who signs). Every field is checked first; a bad one changes nothing."""
    school_id = _school_id()
    legal_name = request.form.get("legal_name", "").strip()
    country = request.form.get("country", "").strip()
    country = country.upper() if country.isascii() else country  # "ß".upper() is "SS", South Sudan
    colour = request.form.get("brand_colour", "").strip()
    if not legal_name or not is_country_code(country):
        flash(gettext("The awarding body needs a name and a two-letter country code; nothing was changed."), "error")
        return redirect(url_for(".home"))
    if colour and not BRAND_COLOUR.fullmatch(colour):
        flash(gettext("The colour must be written as # and six hexadecimal digits, like #0f6cbf; nothing was "
                      "changed."), "error")
        return redirect(url_for(".home"))
    homepage = request.form.get("homepage", "").strip()[:500]
    if homepage and not _web_address(homepage):
        # it is signed into every credential as the issuer's URL, which wallets show as a link
        flash(gettext("The website must be an http or https address, like https://school.example; nothing was "
                      "changed."), "error")
        return redirect(url_for(".home"))
    upload = request.files.get("logo")
    logo = _logo(upload) if upload is not None and upload.filename else None
    if isinstance(logo, str):
        flash(logo, "error")
        return redirect(url_for(".home"))
    with unit_of_work() as session:
        school = session.get(School, school_id)
        school.legal_name = legal_name[:300]
        school.country = country
        school.homepage = homepage or None
        school.qa_status = {**(school.qa_status or {}), "type": request.form.get("qa_type", "").strip()[:300],
                            "body": request.form.get("qa_body", "").strip()[:300]}
        school.locality = request.form.get("locality", "").strip()[:120] or None
        school.signatory_name = request.form.get("signatory_name", "").strip()[:200] or None
        school.signatory_role = request.form.get("signatory_role", "").strip()[:200] or None
        school.brand_colour = colour or None
        if logo is not None:
            school.logo, school.logo_type = logo
        elif request.form.get("remove_logo") == "1":
            school.logo, school.logo_type = None, None
        audit(session, school_id=school_id, actor=who(require_session()), action="school.updated",
              subject_type="school", subject_id=school_id,
              **({"logo": logo[1]} if logo is not None else {}))
    flash(gettext("School profile saved."), "success")
    return redirect(url_for(".home"))


@bp.get("/connections")
@require_role("administrator")
def connections() -> Any:
    school_id = _school_id()
    with unit_of_work() as session:
        rows = list(session.scalars(select(LmsConnection).where(LmsConnection.school_id == school_id)
                                    .order_by(LmsConnection.name)))
        runs = {c.id: session.scalars(select(SyncRun).where(SyncRun.connection_id == c.id)
                                      .order_by(SyncRun.id.desc()).limit(1)).first() for c in rows}
        school = session.get(School, school_id)
        policy = {key: school_policy.value(school, key) for key in POLICY_FORM}
        ags_granted = school_policy.platform_granted_ags(session, school_id)
        session.expunge_all()
    return render_template("pages/admin_connections.html", connections=rows, runs=runs, policy=policy,
                           ags_granted=ags_granted)


#: the school's policy settings the connections page changes (the CLI: `credbridge schools set`)
POLICY_FORM = ("ags_score", "notify_email", "suspended_enrolment")


@bp.post("/policy")
@require_role("administrator")
def policy_update() -> Any:
    """AGS score, learner e-mail and suspended learners, as `credbridge schools set` changes them."""
    school_id = _school_id()
    wanted = {key: request.form.get(key, "") for key in POLICY_FORM if request.form.get(key)}
    wrong = [key for key, choice in wanted.items() if choice not in school_policy.BY_KEY[key].choices]
    if wrong:  # bad input changes nothing
        flash(gettext("Not saved: %(problem)s", problem=", ".join(wrong)), "error")
        return redirect(url_for(".connections"))
    with unit_of_work() as session:
        school = session.get(School, school_id)
        before = {key: school_policy.value(school, key) for key in wanted}
        for key, choice in wanted.items():
            school_policy.set_value(school, key, choice)
        audit(session, school_id=school_id, actor=who(require_session()), action="school.policy_changed",
              subject_type="school", subject_id=school_id, before=before, after=wanted)
    flash(gettext("Issuance settings saved."), "success")
    return redirect(url_for(".connections"))


@bp.post("/connections")
@require_role("administrator")
def connection_add() -> Any:
    school_id = _school_id()
    name = request.form.get("name", "").strip()[:100]
    url = request.form.get("base_url", "").strip()[:500]
    token = request.form.get("token", "").strip()
    if not name or not url.startswith(("http://", "https://")) or not token:
        flash(gettext("A connection needs a name, the Moodle address (http or https) and a token."), "error")
        return redirect(url_for(".connections"))
    with unit_of_work() as session:
        exists = session.scalars(select(LmsConnection).where(LmsConnection.school_id == school_id,
                                                             LmsConnection.name == name)).first()
        if exists is not None:
            flash(gettext("A connection with this name exists already."), "error")
            return redirect(url_for(".connections"))
        row = LmsConnection(school_id=school_id, name=name, base_url=url.rstrip("/"), ws_token=Secret(token.encode()))
        session.add(row)
        session.flush()
        audit(session, school_id=school_id, actor=who(require_session()), action="connection.created",
              subject_type="lms_connection", subject_id=row.id, base_url=row.base_url)
        link_unlinked_registrations(session, row, actor=who(require_session()))
    flash(gettext("Connection saved. The token is stored encrypted and will not be shown again."), "success")
    return redirect(url_for(".connections"))


def _own(session: Any, model: Any, row_id: int, school_id: int) -> Any:
    row = session.get(model, row_id)
    if row is None or row.school_id != school_id:
        abort(404)
    return row


@bp.post("/connections/<int:connection_id>/check")
@require_role("administrator")
def connection_check(connection_id: int) -> Any:
    """The same probes as ``credbridge connections check``: each refusal names what to grant."""
    school_id = _school_id()
    with unit_of_work() as session:
        row = _own(session, LmsConnection, connection_id, school_id)
        client = MoodleClient(row.base_url, row.ws_token.reveal().decode(), retries=0, timeout=10)
        try:
            report = check_connection(MoodleApi(client), row.course_filter or None)
        finally:
            client.close()
        store_check(row, report)
        failed = [f for f in report.findings if not f.ok and f.required]
    if report.ok:
        flash(gettext("Connected; every function credbridge needs is allowed and every activity is visible."),
              "success")
    elif failed:
        flash(gettext("Moodle refused some of what sync needs: %(checks)s", checks=", ".join(f.check for f in failed)),
              "error")
    if report.hidden:
        flash(gettext("Moodle hides %(count)d activities from the sync user: grant %(capabilities)s to its role.",
                      count=len(report.hidden), capabilities=", ".join(report.hidden_capabilities())), "error")
    return redirect(url_for(".connections"))


@bp.get("/registrations")
@require_role("administrator")
def registrations() -> Any:
    school_id = _school_id()
    with unit_of_work() as session:
        rows = list(session.scalars(select(LtiRegistration).where(LtiRegistration.school_id == school_id)
                                    .order_by(LtiRegistration.id)))
        school = session.get(School, school_id)
        connections = list(session.scalars(select(LmsConnection).where(LmsConnection.school_id == school_id)
                                           .order_by(LmsConnection.name)))
        session.expunge_all()
    # the school is named by a signed token, so a registration link cannot be edited into another school's
    token = school_registration_token(current_app.secret_key, school_id)  # type: ignore[arg-type]
    dynamic_url = f"{base_url()}{url_for('lti.register_form')}?{urlencode({'school': token})}"
    return render_template("pages/admin_registrations.html", registrations=rows, school=school,
                           dynamic_url=dynamic_url, base=base_url(), link_days=REGISTRATION_LINK_LIFETIME.days,
                           connections=connections)


#: the manual registration form's fields and how long each may be (their columns)
REGISTRATION_FIELDS = {"name": 200, "issuer": 500, "client_id": 255, "auth_login_url": 500, "auth_token_url": 500,
                       "key_set_url": 500}


@bp.post("/registrations")
@require_role("administrator")
def registration_add() -> Any:
    school_id = _school_id()
    fields = {k: request.form.get(k, "").strip() for k in REGISTRATION_FIELDS}
    too_long = [k for k, limit in REGISTRATION_FIELDS.items() if len(fields[k]) > limit]
    if too_long:  # as long as their columns hold (PostgreSQL refuses more); a cut URL would be wrong
        flash(gettext("Too long: %(fields)s. Nothing was saved.", fields=", ".join(too_long)), "error")
        return redirect(url_for(".registrations"))
    missing = [k for k in ("issuer", "client_id", "auth_login_url", "auth_token_url", "key_set_url") if not fields[k]]
    bad = [k for k in ("issuer", "auth_login_url", "auth_token_url", "key_set_url")
           if fields[k] and not fields[k].startswith(("https://", "http://"))]
    if missing or bad:
        flash(gettext("Fill in every field with an http(s) address: %(fields)s", fields=", ".join(missing + bad)),
              "error")
        return redirect(url_for(".registrations"))
    with unit_of_work() as session:
        taken = session.scalars(select(LtiRegistration).where(LtiRegistration.issuer == fields["issuer"],
                                                              LtiRegistration.client_id == fields["client_id"])).first()
        if taken is not None:
            flash(gettext("This platform and client ID are registered already."), "error")
            return redirect(url_for(".registrations"))
        connection = _chosen_connection(session, school_id) or connection_at(session, school_id, fields["issuer"])
        row = LtiRegistration(school_id=school_id, registered_by="manual",
                              connection_id=connection.id if connection else None, **fields)
        session.add(row)
        session.flush()
        audit(session, school_id=school_id, actor=who(require_session()), action="registration.created",
              subject_type="lti_registration", subject_id=row.id, issuer=row.issuer,
              connection=connection.name if connection else None)
    flash(gettext("Registration saved."), "success")
    return redirect(url_for(".registrations"))


def _chosen_connection(session: Any, school_id: int) -> LmsConnection | None:
    """The form's ``connection_id`` (empty: none), which must be one of the school's own."""
    value = request.form.get("connection_id", "").strip()
    if not value:
        return None
    try:
        return _own(session, LmsConnection, database_id(value), school_id)
    except ValueError:
        abort(400, description="connection_id must be the id of one of the school's connections")


@bp.post("/registrations/<int:registration_id>/connection")
@require_role("administrator")
def registration_link(registration_id: int) -> Any:
    """Which Moodle connection a platform's launches belong to: teachers' course pages need it to
    know which of the school's Moodles a course id refers to."""
    school_id = _school_id()
    with unit_of_work() as session:
        row = _own(session, LtiRegistration, registration_id, school_id)
        connection = _chosen_connection(session, school_id)
        row.connection_id = connection.id if connection else None
        audit(session, school_id=school_id, actor=who(require_session()), action="registration.linked",
              subject_type="lti_registration", subject_id=row.id, connection=connection.name if connection else None)
    flash(gettext("Registration saved."), "success")
    return redirect(url_for(".registrations"))


@bp.get("/mappings")
@require_role("administrator")
def mappings() -> Any:
    """The history of the school's mapping: every saved version, to view, compare and restore."""
    school_id = _school_id()
    with unit_of_work() as session:
        versions = mapping_history(session, school_id)
    return render_template("pages/admin_mappings.html", versions=versions)


def _version_or_404(session: Any, school_id: int, file_id: int) -> tuple[MappingFile, MappingVersion]:
    row = mapping_version(session, school_id, file_id)
    if row is None:
        abort(404)
    number = next(v for v in mapping_history(session, school_id) if v.id == row.id)
    return row, number


@bp.get("/mappings/<int:file_id>")
@require_role("administrator")
def mapping_view(file_id: int) -> Any:
    school_id = _school_id()
    with unit_of_work() as session:
        row, version = _version_or_404(session, school_id, file_id)
        history = mapping_history(session, school_id)
        session.expunge_all()
    return render_template("pages/admin_mapping_view.html", row=row, version=version, history=history,
                           lines=row.content.splitlines() or [""])


@bp.get("/mappings/<int:file_id>/diff")
@require_role("administrator")
def mapping_diff(file_id: int) -> Any:
    """Two saved versions side by side: what changed in the mapping's terms, and line by line."""
    school_id = _school_id()
    with unit_of_work() as session:
        row, version = _version_or_404(session, school_id, file_id)
        history = mapping_history(session, school_id)
        against_id = request.args.get("against", type=database_id)
        if against_id is None:  # the version saved just before this one
            older = [v for v in history if v.number < version.number]
            against_id = older[0].id if older else None
        other, other_version = _version_or_404(session, school_id, against_id) if against_id else (None, None)
        session.expunge_all()
    changes = None
    if other is not None:
        changes = mapping_changes(other.content, row.content, row.filename)
    return render_template("pages/admin_mapping_diff.html", row=row, version=version, other=other,
                           other_version=other_version, history=history, changes=changes,
                           lines=text_diff(other.content, row.content) if other is not None else [])


@bp.route("/mappings/edit", methods=["GET", "POST"])
@require_role("administrator")
def mapping_edit() -> Any:
    school_id = _school_id()
    text = request.form.get("content")
    upload = request.files.get("upload")
    uploaded_name = None
    if upload is not None and upload.filename:
        uploaded_name = upload.filename[:300]
        text = upload.read(2_000_000).decode("utf-8", errors="replace")
    restoring = request.values.get("from", type=database_id)
    if restoring is None and request.values.get("from"):
        abort(404)  # a version this school cannot have, like one it does not have
    confirm: str | None = None
    with unit_of_work() as session:
        school = session.get(School, school_id)
        # one mapping is active per school: edits, uploads and restores are compared with it
        current = active_mapping_file(session, school_id)
        restored: MappingVersion | None = None
        if restoring is not None:
            row, restored = _version_or_404(session, school_id, restoring)
            if text is None:
                text = row.content
        # the mapping keeps its name: an upload replaces the text, not the name the school gave it
        filename = ((request.form.get("filename") or "").strip()[:300]
                    or (current.filename if current is not None else None) or uploaded_name or "mapping.yaml")
        if text is None:
            text = current.content if current is not None else ""
        result: MappingCheck | None = None
        action = request.form.get("action")
        if request.method == "POST" or restored is not None:
            result = check_mapping(text, filename, current.content if current is not None else None,
                                   session=session, school=school, sources=evaluation_sources())
        if request.method == "POST" and result is not None and action == "save":
            if not result.ok:
                flash(gettext("The file has errors; nothing was saved."), "error")
            elif current is not None and hashlib.sha256(text.encode("utf-8")).hexdigest() == current.sha256:
                flash(gettext("Nothing changed."), "info")
            elif needs_confirmation(result) and \
                    request.form.get("confirm") != confirmation_token(text, result, current):
                confirm = confirmation_token(text, result, current)
            else:
                save_mapping(session, school_id, filename, text, actor=who(require_session()),
                             restored_from=restored.number if restored is not None else None)
                if restored is not None:
                    flash(gettext("Version %(number)d was restored as the current mapping.",
                                  number=restored.number), "success")
                else:
                    flash(gettext("Mapping file saved."), "success")
                return redirect(url_for(".mappings"))
        titles = current_titles(session, school) if school is not None else {}
        if result is not None:
            titles.update(result.titles)
    lines = text.splitlines() or [""]
    if result is not None and result.by_line:
        # a problem "at the end of the file" sits one line after the last: show that line too
        lines += [""] * max(0, max(result.by_line) - len(lines))
    status = 422 if result is not None and not result.ok else 200
    return render_template("pages/admin_mapping_edit.html", filename=filename, text=text, lines=lines,
                           result=result, confirm=confirm, restored=restored, uploaded_name=uploaded_name,
                           current=current, titles=titles), status


@bp.get("/templates")
@require_role("administrator")
def templates() -> Any:
    school_id = _school_id()
    with unit_of_work() as session:
        tpls = list(session.scalars(select(TemplateDefinition).where(TemplateDefinition.school_id == school_id,
                                                                     TemplateDefinition.is_current.is_(True))
                                    .order_by(TemplateDefinition.code)))
        units = list(session.scalars(select(UnitDefinition).where(UnitDefinition.school_id == school_id,
                                                                  UnitDefinition.is_current.is_(True))
                                     .order_by(UnitDefinition.code)))
        session.expunge_all()
    return render_template("pages/admin_templates.html", templates=tpls, units=units)


@bp.get("/outbox")
@require_role("administrator")
def outbox() -> Any:
    """What is waiting to be issued or failed, by learner and credential, with what it waits for."""
    school_id = _school_id()
    wanted = request.args.get("state", "")
    wanted = wanted if wanted in OUTBOX_FILTERS else ""
    target = request.args.get("target", "")
    needle = request.args.get("q", "").strip()[:100]
    with unit_of_work() as session:
        query = (select(OutboxItem, Award.status, Award.template_code, Learner.full_name, Learner.id)
                 .join(Award, OutboxItem.award_id == Award.id).join(Learner, Award.learner_id == Learner.id)
                 .where(Award.school_id == school_id, OutboxItem.status.in_(("failed", "dead", "pending", "sending")))
                 .order_by(Learner.full_name, OutboxItem.id))
        if target:
            query = query.where(OutboxItem.target == target)
        rows = session.execute(query).all()
        targets = sorted(set(session.scalars(select(OutboxItem.target).join(Award, OutboxItem.award_id == Award.id)
                                             .where(Award.school_id == school_id).distinct())))
        titles = template_titles(session, school_id)
        session.expunge_all()
    items = []
    for item, award_status, code, learner, learner_id in rows:
        state = outbox_state(item.status, award_status)
        if needle and needle.casefold() not in learner.casefold():
            continue
        items.append({"item": item, "state": state, "learner": learner, "learner_id": learner_id,
                      "title": titles.get(code, code), "code": code})
    counts = Counter(i["state"] for i in items)
    if wanted:
        items = [i for i in items if i["state"] == wanted]
    return render_template("pages/admin_outbox.html", items=items, counts=counts, wanted=wanted, target=target,
                           targets=targets, q=needle, filters=OUTBOX_FILTERS)


@bp.post("/outbox/<int:item_id>/retry")
@require_role("administrator")
def outbox_retry(item_id: int) -> Any:
    school_id = _school_id()
    with unit_of_work() as session:
        item = session.get(OutboxItem, item_id)
        if item is None or item.award.school_id != school_id:
            abort(404)
        try:
            retry_outbox_item(session, item, actor=who(require_session()))
        except ActionRefused as error:
            flash(error.message, "error")
            return redirect(url_for(".outbox"))
    flash(gettext("The item will be sent again."), "success")
    return redirect(url_for(".outbox"))


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, "").strip())
    except ValueError:
        return None


@bp.get("/audit")
@require_role("administrator")
def audit_log() -> Any:
    """Who did what and when, in sentences, filtered by person, kind of event and dates."""
    school_id = _school_id()
    page = request.args.get("page", 1, type=page_number)
    filters = AuditFilter(actor=request.args.get("actor") or None, action=request.args.get("action") or None,
                          since=_day("since"), until=_day("until"))
    with unit_of_work() as session:
        rows, total = audit_entries(session, school_id, filters, page)
        actors, actions = audit_choices(session, school_id)
        names = subject_names(session, school_id, rows)
        titles = template_titles(session, school_id)
        session.expunge_all()
    pages = max(1, (total + 49) // 50)
    query = {k: v for k, v in (("actor", filters.actor), ("action", filters.action),
                               ("since", filters.since and filters.since.isoformat()),
                               ("until", filters.until and filters.until.isoformat())) if v}
    return render_template("pages/admin_audit.html", rows=rows, page=page, pages=pages, total=total,
                           filters=filters, actors=actors, actions=actions, names=names, query=query, titles=titles,
                           learners={key[1]: n.learner for key, n in names.items() if key[0] == "learner"})


@bp.get("/keys")
@require_role("administrator")
def keys() -> Any:
    school_id = _school_id()
    with unit_of_work() as session:
        school = session.get(School, school_id)
        ensure_school_key(session, school)
        rows = list(session.scalars(select(SigningKey).where(SigningKey.school_id == school_id)
                                    .order_by(SigningKey.id.desc())))
        # what a person calls one credential: one per award, whatever the number of its formats
        issued = session.scalar(select(func.count(func.distinct(Credential.award_id)))
                                .where(Credential.school_id == school_id)) or 0
        session.expunge_all()
    return render_template("pages/admin_keys.html", keys=rows, school=school, issued=issued,
                           did_url=url_for("verify.did_document", slug=school.slug),
                           confirming=request.args.get("rotate") == "confirm")


@bp.post("/keys/rotate")
@require_role("administrator")
def keys_rotate() -> Any:
    """Rotates only with the confirmation step's answer; a bare POST leads to that step."""
    if request.form.get("confirm") != "rotate":
        return redirect(url_for(".keys", rotate="confirm", _anchor="rotate"))
    school_id = _school_id()
    with unit_of_work() as session:
        school = session.get(School, school_id)
        rotate_school_key(session, school, actor=who(require_session()))
    flash(gettext("A new signing key is in use. The old key stays published so earlier credentials still verify."),
          "success")
    return redirect(url_for(".keys"))
