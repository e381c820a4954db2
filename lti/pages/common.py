"""Helpers shared by the page blueprints: labels of states, date filters, the viewer's identity."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask
from flask_babel import format_date, format_datetime, get_locale, lazy_gettext

from credbridge.connector.issuing.notify import verification_url
from credbridge.connector.store.models import LaunchSession
from credbridge.lti.pages.queries import title_text
from credbridge.lti.pages.runtime import base_url

_ = lazy_gettext

STATE_LABELS = {
    "not_started": _("Not started"),
    "in_progress": _("In progress"),
    "achieved": _("Achieved"),
    "pending_approval": _("Pending approval"),
    "approved": _("Approved, issuing"),
    "held": _("On hold"),
    "issued": _("Issued"),
    "failed": _("Issuing failed"),
    "flagged": _("Flagged: evidence changed"),
    "revoked": _("Revoked"),
}
ACTION_LABELS = {"approve": _("Approve"), "hold": _("Hold"), "issue_now": _("Issue now"), "revoke": _("Revoke")}
FORMAT_LABELS = {"ob3-jwt": _("Open Badges 3.0 (VC-JWT)"), "ob3-di": _("Open Badges 3.0 (JSON-LD)"),
                 "elm": _("Europass ELM v3")}
ELEMENT_LABELS = {
    "title": _("Title"), "learner": _("Learner"), "awarding_body": _("Awarding body"), "country": _("Country"),
    "date_of_issue": _("Date of issue"), "learning_outcomes": _("Learning outcomes"),
    "workload": _("Notional workload"), "credits": _("Notional workload"), "hours": _("Hours"),
    "eqf_level": _("EQF level"), "nqf": _("NQF level"), "assessment_types": _("Type of assessment"),
    "mode": _("Form of participation"), "quality_assurance": _("Type of quality assurance"),
    "prerequisites": _("Prerequisites"), "supervision": _("Supervision and identity verification"),
    "grade": _("Grade achieved"), "grades": _("Grade achieved"), "part_of": _("Integration and stackability"),
    "further_information": _("Further information"), "description": _("Description"), "units": _("Units"),
    "languages": _("Languages"),
}


def who(session: LaunchSession) -> str:
    """How the audit log names the person acting."""
    return session.email or session.subject or f"session:{session.id[:8]}"


def _date(value: datetime | None) -> str:
    return format_date(value, "medium") if value else ""


def _datetime(value: datetime | None) -> str:
    return format_datetime(value, "medium") if value else ""


def _element(name: str) -> str:
    label = ELEMENT_LABELS.get(name)
    return str(label) if label is not None else name.replace("_", " ").capitalize()


def _i18n_text(value: Any) -> str:
    return title_text(value, str(get_locale() or "en"))


def public_verification_url(credential_uuid: str) -> str:
    """The address written into the credential itself (from the configured public URL), not one
    built from this request's host, which behind a proxy may be an internal name or plain http."""
    return verification_url(base_url(), credential_uuid)


def init_template_helpers(app: Flask) -> None:
    app.jinja_env.filters.update(
        cb_date=_date, cb_datetime=_datetime, cb_element=_element, cb_text=_i18n_text,
    )
    app.jinja_env.globals.update(STATE_LABELS=STATE_LABELS, ACTION_LABELS=ACTION_LABELS,
                                 FORMAT_LABELS=FORMAT_LABELS, cb_verification_url=public_verification_url)
