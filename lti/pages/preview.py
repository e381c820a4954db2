"""The exact credential a teacher approves, built before anything is signed: the award snapshot goes
through the same ``build_content`` → ``build_ob3`` steps the embedded signer uses, with a placeholder
id and status entry (the signer assigns both when it issues)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from credbridge.connector.issuing.adapters.content import SnapshotError, branding_of, build_content
from credbridge.connector.issuing.formats import build_ob3
from credbridge.connector.issuing.formats import content as fc
from credbridge.connector.issuing.formats.errors import FormatError
from credbridge.connector.issuing.keys import school_did
from credbridge.connector.issuing.pipeline.payload import build_payload
from credbridge.connector.issuing.status import status_list_url
from credbridge.connector.store.models import Award, Learner, School
from credbridge.lti.pages.queries import AnnexRow, annex_rows
from credbridge.lti.pages.runtime import base_url, evaluation_sources

PREVIEW_ID = "00000000-0000-4000-8000-000000000000"  # build_content adds the urn:uuid: prefix


@dataclass
class Preview:
    document: dict[str, Any]
    annex: list[AnnexRow]
    learner_name: str
    school_name: str
    error: str | None = None


def credential_preview(session: Session, award: Award, locale: str) -> Preview:
    learner = session.get(Learner, award.learner_id)
    school = session.get(School, award.school_id)
    if learner is None or school is None:
        raise LookupError(f"award {award.id}: learner or school is gone")
    facts = {f.id: f for f in evaluation_sources().evidence_facts(session, award.learner_id)}
    annex = annex_rows(award.snapshot, locale, facts)
    payload = build_payload(session, award)
    subject = fc.Learner(moodle_id=learner.id, full_name=learner.full_name, given_name=payload.learner_given_name,
                         family_name=payload.learner_family_name, email=learner.email or "",
                         idnumber=learner.idnumber or "")
    try:
        content = build_content(
            snapshot=dict(award.snapshot or {}), credential_id=PREVIEW_ID, issuer_did=school_did(base_url(), school),
            school_homepage=school.homepage or base_url(), learner=subject,
            issued_at=datetime.now(UTC).replace(microsecond=0),
            status=fc.StatusEntry(status_list_url(base_url(), school, 0), 0), branding=branding_of(school))
        document = build_ob3(content)
    except (SnapshotError, FormatError, ValueError) as error:
        # what blocks issuing is exactly what the teacher must see
        return Preview({"snapshot": award.snapshot}, annex, learner.full_name, school.legal_name, error=str(error))
    return Preview(document, annex, learner.full_name, school.legal_name)
