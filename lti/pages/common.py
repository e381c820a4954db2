"""Helpers shared by the page blueprints: labels of states, date filters, the viewer's identity."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_date, format_time
from flask import Flask, g
from flask_babel import get_locale, get_timezone, lazy_gettext

from credbridge.connector.issuing.notify import verification_url
from credbridge.connector.store.models import LaunchSession, School
from credbridge.lti.pages import explain
from credbridge.lti.pages.queries import language_of, title_text
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


@dataclass(frozen=True)
class SchoolIdentity:
    """What every page shows of the school it speaks for (detached from the database session)."""

    name: str
    slug: str
    has_logo: bool = False
    has_colour: bool = False
    locality: str = ""
    signatory_name: str = ""
    signatory_role: str = ""
    homepage: str = ""


def identity_of(school: School | None) -> SchoolIdentity | None:
    if school is None:
        return None
    return SchoolIdentity(school.legal_name, school.slug, bool(school.logo and school.logo_type),
                          bool(school.brand_colour and BRAND_COLOUR.fullmatch(school.brand_colour)),
                          school.locality or "", school.signatory_name or "", school.signatory_role or "",
                          school.homepage or "")


#: the only shape a brand colour may have (it is written into a stylesheet)
BRAND_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def settle_locale() -> None:
    """``before_request`` of the page blueprints: choose the reader's language before a view opens
    its unit of work, since choosing it may read the visitor's session row (on SQLite a second
    connection would wait for the view's own transaction)."""
    get_locale()


def who(session: LaunchSession) -> str:
    """How the audit log names the person acting."""
    return session.email or session.subject or f"session:{session.id[:8]}"


#: a sign for every state besides its colour, so that states are told apart without colour vision
STATE_ICONS = {
    "not_started": "○", "in_progress": "◐", "achieved": "●", "pending_approval": "⧗", "approved": "✓",
    "held": "⏸", "issued": "★", "failed": "⚠", "flagged": "⚑", "revoked": "✕",
}
#: the public reasons of a revocation (codes: connector.awards.actions.PUBLIC_REVOCATION_REASONS)
REVOCATION_REASON_LABELS = {
    "issued_in_error": _("Issued in error"),
    "wrong_learner": _("Issued to the wrong person"),
    "assessment_changed": _("The assessment result it records has changed"),
    "replaced": _("Replaced by a corrected credential"),
    "learner_request": _("Withdrawn at the learner's request"),
}


#: each verification check in plain words: (check code, outcome) -> what it means for the reader
CHECK_TEXT = {
    ("structure", "passed"): _("The file is a complete, well-formed credential."),
    ("structure", "failed"): _("The file is not a well-formed credential."),
    ("header", "passed"): _("It is signed with the expected method."),
    ("header", "failed"): _("It is not signed with the expected method."),
    ("key", "passed"): _("The signing key belongs to the school that issued it."),
    ("key", "failed"): _("The signing key does not belong to the school named as issuer."),
    ("signature", "passed"): _("The signature is genuine: nothing has been changed since it was signed."),
    ("signature", "failed"): _("The signature does not match: the credential was changed or signed by someone else."),
    ("claims", "passed"): _("The signed details match the credential."),
    ("claims", "failed"): _("The signed details do not match the credential."),
    ("validity_period", "passed"): _("It is within its period of validity."),
    ("validity_period", "failed"): _("It is not valid on this date (expired or not yet valid)."),
    ("status", "passed"): _("The school has not revoked it."),
    ("status", "failed"): _("The school has revoked it, or its status could not be confirmed."),
    ("status", "skipped"): _("Whether it was revoked could not be checked."),
}
CHECK_OUTCOMES = {"passed": _("passed"), "failed": _("failed"), "skipped": _("skipped")}


def check_text(code: str, outcome: str) -> str:
    text = CHECK_TEXT.get((code, outcome))
    return str(text) if text is not None else str(CHECK_OUTCOMES.get(outcome, outcome))


def linkedin_url(credential_uuid: str, issued_at: datetime, title: str, organisation: str) -> str:
    """LinkedIn's "add a certification" form, filled in (its documented profile/add link)."""
    query = {"startTask": "CERTIFICATION_NAME", "name": title, "organizationName": organisation,
             "issueYear": str(issued_at.year), "issueMonth": str(issued_at.month),
             "certUrl": public_verification_url(credential_uuid), "certId": credential_uuid}
    return "https://www.linkedin.com/profile/add?" + urlencode(query)


def _date_locale() -> str:
    """English dates read day-month-year (British order), like the region's own languages."""
    locale = str(get_locale() or "en")
    return "en_GB" if locale.split("_")[0] == "en" else locale


def _local(value: datetime) -> datetime:
    return value.astimezone(get_timezone()) if value.tzinfo else value


def _date(value: datetime | None) -> str:
    return format_date(_local(value), "long", locale=_date_locale()) if value else ""


def _datetime(value: datetime | None) -> str:
    if not value:
        return ""
    local = _local(value)
    return f"{format_date(local, 'long', locale=_date_locale())}, {format_time(local, 'short', locale=_date_locale())}"


def _element(name: str) -> str:
    """An Annex I element's label; translated once per request and language (a course page shows the
    same dozen labels in every award's cell)."""
    said = g.setdefault("cb_element_labels", {})
    key = (str(get_locale() or "en"), name)
    if key not in said:
        label = ELEMENT_LABELS.get(name)
        said[key] = str(label) if label is not None else name.replace("_", " ").capitalize()
    return said[key]


def _i18n_text(value: Any) -> str:
    return title_text(value, str(get_locale() or "en"))


def _i18n_lang(value: Any) -> str:
    """The language a mapping-file text is shown in, as a ``lang`` attribute value (BCP 47)."""
    return (language_of(value, str(get_locale() or "en")) or str(get_locale() or "en")).replace("_", "-")


def public_verification_url(credential_uuid: str) -> str:
    """The address written into the credential itself (from the configured public URL), not one
    built from this request's host, which behind a proxy may be an internal name or plain http."""
    return verification_url(base_url(), credential_uuid)


def current_school() -> SchoolIdentity | None:
    """The school of whoever is signed in (teacher, learner, administrator), for the page header."""
    from credbridge.lti.auth import current_session

    try:
        session = current_session()
    except Exception:  # a page outside any session (or without a database) names no school
        return None
    if session is None:
        return None
    from credbridge.lti.pages.runtime import unit_of_work

    with unit_of_work() as db:
        return identity_of(db.get(School, session.school_id))


def _face(award: Any = None, credential: Any = None, document: Any = None) -> Any:
    """The credential's image and issuer for pages/credential_face.html (the issued document's, else the
    award's as it would be issued, in the school's brand colour and logo)."""
    from credbridge.connector.issuing.adapters.content import branding_of
    from credbridge.connector.issuing.face import credential_face
    from credbridge.lti.pages.runtime import unit_of_work

    school_id = getattr(award, "school_id", None)
    with unit_of_work() as db:
        branding = branding_of(db.get(School, school_id)) if school_id is not None else None
    if credential is not None:
        return credential_face(getattr(award, "snapshot", None), credential.document, credential.format, branding)
    return credential_face(getattr(award, "snapshot", None), document, branding=branding)


def init_template_helpers(app: Flask) -> None:
    app.jinja_env.filters.update(
        cb_date=_date, cb_datetime=_datetime, cb_element=_element, cb_text=_i18n_text, cb_lang=_i18n_lang,
        cb_need=explain.sentence, cb_percent=explain.percent, cb_number=explain.number,
    )
    app.jinja_env.globals.update(STATE_LABELS=STATE_LABELS, ACTION_LABELS=ACTION_LABELS, STATE_ICONS=STATE_ICONS,
                                 FORMAT_LABELS=FORMAT_LABELS, REVOCATION_REASON_LABELS=REVOCATION_REASON_LABELS,
                                 CHECK_OUTCOMES=CHECK_OUTCOMES, cb_check=check_text, cb_linkedin=linkedin_url,
                                 cb_current_school=current_school, cb_face=_face,
                                 cb_verification_url=public_verification_url)
