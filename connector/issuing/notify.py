"""After issuance: an optional e-mail to the learner and, when the school enables it, the AGS
"credential issued" score back to the Moodle grade book (through the LTI services client).

Both run from a durable ``notify`` work item enqueued with the ``issued`` transition, so a crash
right after issuance delays them but never loses them; a failure is retried by the work-item
worker and never touches the credential itself.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.awards.audit import audit
from credbridge.connector.school_policy import ags_enabled, email_enabled
from credbridge.connector.settings import Settings
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import (
    Award,
    Credential,
    Learner,
    LearnerIdentity,
    LtiRegistration,
    ResourceLinkTemplate,
    School,
)

log = logging.getLogger("credbridge.issuing.notify")
ACTOR = "system:notify"


@dataclass
class NotifyResult:
    emailed: bool = False
    scores_posted: int = 0
    skipped: list[str] = field(default_factory=list)


def verification_url(base_url: str, credential_uuid: str) -> str:
    """The public verification page the web layer serves for one credential."""
    return f"{base_url.rstrip('/')}/credentials/{credential_uuid}"


def _title(award: Award) -> str:
    title = (award.snapshot or {}).get("title") or {}
    languages = (award.snapshot or {}).get("languages") or []
    return next((title[lang] for lang in languages if lang in title), next(iter(title.values()), award.template_code))


def compose_email(settings: Settings, award: Award, learner: Learner, school: School,
                  credentials: list[Credential]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = learner.email or ""
    message["Subject"] = f"Your micro-credential: {_title(award)}"
    links = "\n".join(f"  - {c.format}: {verification_url(settings.base_url, c.uuid)}" for c in credentials)
    message.set_content(
        f"Dear {learner.full_name},\n\n"
        f"{school.legal_name} has issued you the micro-credential \"{_title(award)}\".\n\n"
        f"You can view, download and share it here:\n{links}\n\n"
        "The credential is yours: add it to your Europass profile or any Open Badges wallet.\n"
    )
    return message


def send_email(settings: Settings, message: EmailMessage) -> None:
    if not settings.smtp_host:
        raise RuntimeError("CREDBRIDGE_SMTP_HOST is not set")
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_user, password)
        smtp.send_message(message)


#: (registration, lineitem URL, LTI user id, comment) -> None; the default posts through lti_services
ScorePoster = Callable[[LtiRegistration, str, str, str], None]


def ags_post_credential_score(db: Database) -> ScorePoster:
    """Integration with the LTI engineer's AGS client: a full score with a "credential issued" comment."""
    from credbridge.connector.keys import current_tool_key
    from credbridge.connector.lti_services import Ags, Score, ServiceClient

    def tool_key() -> object:
        with db.unit_of_work() as session:
            return current_tool_key(session)

    def post(registration: LtiRegistration, lineitem_url: str, user_id: str, comment: str) -> None:
        client = ServiceClient(client_id=registration.client_id, token_url=registration.auth_token_url,
                               key=tool_key, token_audience=registration.token_audience)  # type: ignore[arg-type]
        Ags(client).post_score(lineitem_url, Score(user_id=user_id, score_given=1.0, score_maximum=1.0,
                                                   comment=comment))

    return post


def _score_targets(session: Session, award: Award) -> list[tuple[LtiRegistration, str, str]]:
    """Line items the template is linked to in the learner's school, with the learner's LTI user id."""
    rows = session.execute(
        select(LtiRegistration, ResourceLinkTemplate.lineitem_url, LearnerIdentity.external_id)
        .join(ResourceLinkTemplate, ResourceLinkTemplate.registration_id == LtiRegistration.id)
        .join(LearnerIdentity, LearnerIdentity.connection_id == LtiRegistration.connection_id)
        .where(LtiRegistration.school_id == award.school_id, LtiRegistration.status == "active",
               ResourceLinkTemplate.template_code == award.template_code,
               ResourceLinkTemplate.lineitem_url.is_not(None),
               LearnerIdentity.learner_id == award.learner_id)
    ).all()
    return [(reg, url, user) for reg, url, user in rows]


def silent_reasons(session: Session, school: School) -> list[str]:
    """Why a school's awards need no message at all (empty when it sends e-mail or AGS scores); the same
    switches as :func:`notify_award`, so the AGS score's default (on where the platform granted AGS) holds."""
    if email_enabled(school) or ags_enabled(session, school):
        return []
    return ["e-mail disabled by the school", "AGS score disabled by the school"]


def notify_awards(db: Database, settings: Settings, award_ids: list[int]) -> dict[int, NotifyResult | Exception]:
    """:func:`notify_award` for many awards. Those of schools that send neither e-mail nor scores are
    recorded together in one transaction (an end-of-year run issues thousands); the others one by one,
    each failure kept apart so that one unreachable mail server does not hold back the rest."""
    results: dict[int, NotifyResult | Exception] = {}
    with db.unit_of_work() as session:
        awards = list(session.scalars(select(Award).where(Award.id.in_(award_ids))))
        schools = {s.id: s for s in session.scalars(select(School).where(School.id.in_({a.school_id
                                                                                        for a in awards})))}
        silent = {school_id: silent_reasons(session, school) for school_id, school in schools.items()}
        for award in awards:
            reasons = silent[award.school_id]
            if award.status != "issued":
                results[award.id] = NotifyResult(skipped=["award not issued"])
            elif reasons:
                results[award.id] = NotifyResult(skipped=reasons)
                audit(session, school_id=award.school_id, actor=ACTOR, action="award.notified", subject_type="award",
                      subject_id=award.id, emailed=False, scores_posted=0, skipped=reasons)
    for award_id in award_ids:
        if award_id in results:
            continue
        try:
            results[award_id] = notify_award(db, settings, award_id)
        except Exception as exc:  # reported per award, to the work item that asked
            results[award_id] = exc
    return results


def notify_award(db: Database, settings: Settings, award_id: int, *,
                 mailer: Callable[[Settings, EmailMessage], None] = send_email,
                 post_score: ScorePoster | None = None) -> NotifyResult:
    result = NotifyResult()
    with db.unit_of_work() as session:
        award = session.get(Award, award_id)
        if award is None or award.status != "issued":
            result.skipped.append("award not issued")
            return result
        school = session.get(School, award.school_id)
        learner = session.get(Learner, award.learner_id)
        assert school is not None and learner is not None
        credentials = list(session.scalars(select(Credential).where(Credential.award_id == award.id)
                                           .order_by(Credential.id)))
        message = None
        if not email_enabled(school):
            result.skipped.append("e-mail disabled by the school")
        elif not settings.smtp_host:
            result.skipped.append("no SMTP server configured")
        elif not learner.email:
            result.skipped.append("learner has no e-mail address")
        else:
            message = compose_email(settings, award, learner, school, credentials)
        # on unless the school switched it off, where the platform granted AGS (school_policy)
        ags = ags_enabled(session, school)
        targets = _score_targets(session, award) if ags else []
        if not ags:
            result.skipped.append("AGS score disabled by the school")
        comment = f"Credential issued: {_title(award)}"
    if message is not None:
        mailer(settings, message)
        result.emailed = True
    poster = post_score or (ags_post_credential_score(db) if targets else None)
    for registration, lineitem_url, user_id in targets:
        assert poster is not None
        poster(registration, lineitem_url, user_id, comment)
        result.scores_posted += 1
    with db.unit_of_work() as session:
        audit(session, school_id=school.id, actor=ACTOR, action="award.notified", subject_type="award",
              subject_id=award_id, emailed=result.emailed, scores_posted=result.scores_posted,
              skipped=result.skipped)
    return result
