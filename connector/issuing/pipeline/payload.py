"""The :class:`AwardPayload` of one award, read from the store."""

from __future__ import annotations

from sqlalchemy.orm import Session

from credbridge.connector.issuing.adapters.base import AwardPayload
from credbridge.connector.store.models import Award, Learner, School


def _title(award: Award) -> str:
    title = (award.snapshot or {}).get("title") or {}
    if isinstance(title, dict) and title:
        languages = (award.snapshot or {}).get("languages") or []
        for lang in languages:
            if lang in title:
                return str(title[lang])
        return str(next(iter(title.values())))
    return award.template_code


def _split_name(full_name: str) -> tuple[str, str]:
    given, _, family = full_name.strip().rpartition(" ")
    return (given, family) if given else (family, "")


def build_payload(session: Session, award: Award) -> AwardPayload:
    school = session.get(School, award.school_id)
    learner = session.get(Learner, award.learner_id)
    if school is None or learner is None:
        raise LookupError(f"award {award.id}: school or learner is gone")
    given, family = _split_name(learner.full_name)
    return AwardPayload(
        award_id=award.id, school_id=school.id, school_slug=school.slug, school_name=school.legal_name,
        learner_id=learner.id, learner_name=learner.full_name,
        learner_given_name=learner.given_name or given, learner_family_name=learner.family_name or family,
        learner_email=learner.email, template_code=award.template_code, template_version=award.template_version,
        title=_title(award), snapshot=dict(award.snapshot or {}), achieved_at=award.achieved_at,
        decided_at=award.decided_at,
    )
