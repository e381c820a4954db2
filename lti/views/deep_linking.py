"""Deep linking: the teacher picks credential templates; we answer the platform with a signed JWT."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request
from flask_babel import get_locale, gettext
from sqlalchemy import select

from credbridge.connector.keys import current_tool_key
from credbridge.connector.store.models import LtiRegistration, TemplateDefinition, UnitDefinition
from credbridge.lti import headers
from credbridge.lti.auth import require_role, require_session
from credbridge.lti.deep_linking import check_return_url, content_item, response_jwt
from credbridge.lti.launch import claims as c
from credbridge.lti.launch.errors import shown
from credbridge.lti.registrations import platform_origins
from credbridge.lti.views.lti import bp, runtime


def _deep_linking_session() -> Any:
    session = require_session()
    if (session.claims or {}).get(c.MESSAGE_TYPE) != c.DEEP_LINKING_REQUEST:
        abort(403, description="this session did not come from a deep linking request")
    return session


def _templates(school_id: int) -> list[TemplateDefinition]:
    with runtime().db.unit_of_work() as db:
        rows = db.scalars(select(TemplateDefinition).where(TemplateDefinition.school_id == school_id,
                                                           TemplateDefinition.is_current.is_(True))
                          .order_by(TemplateDefinition.code)).all()
        db.expunge_all()
    return list(rows)


def _unit_titles(templates: list[TemplateDefinition], school_id: int) -> dict[str, list[str]]:
    """Each template's units by their titles in the reader's language (what a teacher recognises)."""
    from credbridge.lti.pages.queries import title_text

    locale = str(get_locale() or "en")
    with runtime().db.unit_of_work() as db:
        units = {u.code: u for u in db.scalars(select(UnitDefinition).where(
            UnitDefinition.school_id == school_id, UnitDefinition.is_current.is_(True)))}
        found = {}
        for template in templates:
            codes = [str(code) for code in (template.definition or {}).get("units") or []]
            found[template.code] = [title_text((units[code].definition or {}).get("title") or units[code].title, locale)
                                    for code in codes if code in units]
    return found


def _picker(session: Any, *, problem: str | None = None, status: int = 200) -> tuple[str, int]:
    templates = _templates(session.school_id)
    return render_template("deep_link.html", templates=templates, context_title=session.context_title,
                           context_id=session.context_id, unit_titles=_unit_titles(templates, session.school_id),
                           problem=problem, chosen=set(request.form.getlist("template")),
                           grade_item=request.form.get("grade_item") == "1",
                           link_title=request.form.get("title")), status


@bp.get("/lti/deep-link")
@require_role("instructor")
def deep_link_form() -> tuple[str, int]:
    return _picker(_deep_linking_session())


@bp.post("/lti/deep-link")
@require_role("instructor")
def deep_link_submit() -> Any:
    session = _deep_linking_session()
    known = {t.code: t for t in _templates(session.school_id)}
    chosen = request.form.getlist("template")
    unknown = [code for code in chosen if code not in known]
    if unknown:
        abort(400, description=f"unknown template(s): {shown(unknown)}")
    if not chosen:
        # the same page again, with what to do (a teacher who pressed Attach too early is not at fault)
        return _picker(session, status=400, problem=gettext(
            "Choose at least one micro-credential, then press Attach again."))
    settings = session.claims[c.DL_SETTINGS]
    if "ltiResourceLink" not in (settings.get("accept_types") or []):
        return _picker(session, status=400, problem=gettext(
            "Moodle did not ask for an activity link here, so nothing can be attached. Add credbridge from the "
            "activity chooser of your course instead."))
    title = (request.form.get("title") or "").strip() or ", ".join(known[code].title for code in chosen)
    item = content_item(title[:255], chosen, grade_item=request.form.get("grade_item") == "1")
    with runtime().db.unit_of_work() as db:
        registration = db.get(LtiRegistration, session.registration_id)
        assert registration is not None
        # checked at launch already; again here, so that a session row is never the only guard
        return_url = check_return_url(settings.get("deep_link_return_url"), platform_origins(registration))
        token = response_jwt(current_tool_key(db), client_id=registration.client_id,
                             platform_issuer=registration.issuer, deployment_id=session.deployment_id or "",
                             items=[item], data=settings.get("data"))
    headers.allow_form_action(return_url)
    return render_template("autopost.html", title=gettext("Returning to the platform"),
                           action=return_url, fields={"JWT": token})
