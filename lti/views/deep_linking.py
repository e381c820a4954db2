"""Deep linking: the teacher picks credential templates; we answer the platform with a signed JWT."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request
from flask_babel import gettext
from sqlalchemy import select

from credbridge.connector.keys import current_tool_key
from credbridge.connector.store.models import LtiRegistration, TemplateDefinition
from credbridge.lti.auth import require_role, require_session
from credbridge.lti.deep_linking import content_item, response_jwt
from credbridge.lti.launch import claims as c
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


@bp.get("/lti/deep-link")
@require_role("instructor")
def deep_link_form() -> str:
    session = _deep_linking_session()
    return render_template("deep_link.html", templates=_templates(session.school_id),
                           context_title=session.context_title, context_id=session.context_id)


@bp.post("/lti/deep-link")
@require_role("instructor")
def deep_link_submit() -> str:
    session = _deep_linking_session()
    known = {t.code: t for t in _templates(session.school_id)}
    chosen = request.form.getlist("template")
    unknown = [code for code in chosen if code not in known]
    if unknown:
        abort(400, description=f"unknown template(s): {', '.join(unknown)}")
    if not chosen:
        abort(400, description="choose at least one credential template")
    settings = session.claims[c.DL_SETTINGS]
    if "ltiResourceLink" not in (settings.get("accept_types") or []):
        abort(400, description="the platform does not accept resource links from this tool")
    title = (request.form.get("title") or "").strip() or ", ".join(known[code].title for code in chosen)
    item = content_item(title[:255], chosen, grade_item=request.form.get("grade_item") == "1")
    with runtime().db.unit_of_work() as db:
        registration = db.get(LtiRegistration, session.registration_id)
        assert registration is not None
        token = response_jwt(current_tool_key(db), client_id=registration.client_id,
                             platform_issuer=registration.issuer, deployment_id=session.deployment_id or "",
                             items=[item], data=settings.get("data"))
    return render_template("autopost.html", title=gettext("Returning to the platform"),
                           action=settings["deep_link_return_url"], fields={"JWT": token})
