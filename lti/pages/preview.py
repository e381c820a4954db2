"""The exact credential a teacher approves: built from the award's snapshot before anything is signed.

The issuing pipeline owns the snapshot → :class:`CredentialContent` step. When it exposes
``credbridge.connector.issuing.preview.preview_document(session, award) -> dict`` the preview is
the unsigned Open Badges 3.0 document its builder makes; until then the page shows the snapshot
the builder will receive (same values, same provenance), and says which of the two it is.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from credbridge.connector.store.models import Award, Learner, School
from credbridge.lti.pages.queries import AnnexRow, annex_rows


@dataclass
class Preview:
    document: dict[str, Any]
    built_by: str  # "ob3" when the formats' builder made it, "snapshot" otherwise
    annex: list[AnnexRow]
    learner_name: str
    school_name: str
    error: str | None = None


def credential_preview(session: Session, award: Award, locale: str) -> Preview:
    learner = session.get(Learner, award.learner_id)
    school = session.get(School, award.school_id)
    annex = annex_rows(award.snapshot, locale)
    names = (learner.full_name if learner else "", school.legal_name if school else "")
    try:
        module = importlib.import_module("credbridge.connector.issuing.preview")
        builder = getattr(module, "preview_document", None)
    except ImportError:
        builder = None
    if callable(builder):
        try:
            return Preview(dict(builder(session, award)), "ob3", annex, *names)
        except Exception as error:  # a missing element must be shown to the teacher, not crash the page
            return Preview({"snapshot": award.snapshot}, "snapshot", annex, *names, error=str(error))
    document = {"template": award.template_code, "version": award.template_version,
                "learner": names[0], "awarding_body": names[1], "snapshot": award.snapshot or {}}
    return Preview(document, "snapshot", annex, *names)
