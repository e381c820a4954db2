"""The embedded signer (default target): the school's own OB 3.0 (VC-JWT, Data Integrity) and ELM v3
documents, signed with the school's Ed25519 key and stored as Credential rows.

Exactly once by construction: the Credential rows of an award are written in one transaction with
their status-list index, and ``(award_id, format)`` is unique, so a second writer's insert fails and
it returns what the first one stored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from credbridge.connector.awards.audit import audit_many
from credbridge.connector.issuing.adapters.base import AwardPayload, IssueResult, PermanentIssueError
from credbridge.connector.issuing.adapters.content import SnapshotError, branding_of, build_content, credential_uuid
from credbridge.connector.issuing.formats import build_elm, build_ob3, sign_data_integrity, sign_vc_jwt
from credbridge.connector.issuing.formats import content as fc
from credbridge.connector.issuing.formats.errors import FormatError
from credbridge.connector.issuing.keys import current_school_key, school_did
from credbridge.connector.issuing.status import allocate, status_list_url
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Credential, Learner, School

FORMATS = ("ob3-jwt", "ob3-di", "elm")


def build_documents(content_for: Any, key: Any, outputs: list[str]) -> dict[str, tuple[str, str]]:
    """format -> (credential uuid, stored document text)."""
    out: dict[str, tuple[str, str]] = {}
    for fmt in outputs:
        content: fc.CredentialContent = content_for(fmt)
        cid = content.credential_id.removeprefix("urn:uuid:")
        if fmt == "ob3-jwt":
            out[fmt] = (cid, sign_vc_jwt(build_ob3(content), key.private_key, key.verification_method))
        elif fmt == "ob3-di":
            document = sign_data_integrity(build_ob3(content), key.private_key, key.verification_method,
                                           created=content.issued_at)
            out[fmt] = (cid, json.dumps(document, ensure_ascii=False, sort_keys=True))
        elif fmt == "elm":
            out[fmt] = (cid, json.dumps(build_elm(content), ensure_ascii=False, sort_keys=True))
        else:
            raise PermanentIssueError(f"embedded: unknown output format {fmt!r}")
    return out


def check_learner(learner: Learner) -> None:
    if not learner.email or "@" not in learner.email:
        raise PermanentIssueError(f"embedded: learner {learner.id} ({learner.full_name}) has no e-mail address; "
                                  "the OB 3.0 identity needs one")


def sign_award(payload: AwardPayload, idempotency_key: str, *, school: School, learner: Learner, key: Any,
               base_url: str, status_list_id: int, status_index: int,
               issued_at: datetime) -> dict[str, tuple[str, str]]:
    """The award's documents, signed with ``key`` at the given status-list entry: format -> (credential
    uuid, document). Pure CPU (no database), so a batch can be signed outside any transaction."""
    subject = fc.Learner(moodle_id=learner.id, full_name=learner.full_name,
                         given_name=payload.learner_given_name, family_name=payload.learner_family_name,
                         email=learner.email or "", idnumber=learner.idnumber or "")
    status = fc.StatusEntry(status_list_url(base_url, school, status_list_id), status_index)
    did = school_did(base_url, school)

    def content_for(fmt: str) -> fc.CredentialContent:
        return build_content(snapshot=payload.snapshot, credential_id=credential_uuid(idempotency_key, fmt,
                                                                    payload.snapshot.get("identity_salt", "")),
                             issuer_did=did, school_homepage=school.homepage or base_url,
                             learner=subject, issued_at=issued_at, status=status,
                             branding=branding_of(school))

    outputs = [f for f in payload.snapshot.get("outputs") or ["ob3-jwt"] if f in FORMATS]
    try:
        return build_documents(content_for, key, outputs)
    except (SnapshotError, FormatError, ValueError) as exc:
        raise PermanentIssueError(f"embedded: award {payload.award_id}: {exc}") from exc


def credential_rows(payload: AwardPayload, documents: dict[str, tuple[str, str]], *, status_list_id: int,
                    status_index: int, issued_at: datetime) -> list[dict[str, Any]]:
    """The Credential rows of one award's documents, as values for one bulk INSERT."""
    return [{"uuid": cid, "award_id": payload.award_id, "school_id": payload.school_id, "format": fmt,
             "target": EmbeddedAdapter.name, "document": document, "status_list_id": status_list_id,
             "status_index": status_index, "issued_at": issued_at, "external_id": None, "revoked_at": None,
             "revocation_reason": None}
            for fmt, (cid, document) in documents.items()]


def issued_audit(payload: AwardPayload, documents: dict[str, tuple[str, str]], *, key: Any, status_list_id: int,
                 status_index: int) -> dict[str, Any]:
    """The audit entry of one award's stored documents (for :func:`audit_many`)."""
    return {"school_id": payload.school_id, "actor": "system:embedded-signer", "action": "credential.issued",
            "subject_type": "award", "subject_id": payload.award_id,
            "details": {"kid": key.verification_method, "status_list_id": status_list_id,
                        "status_index": status_index,
                        "credentials": {fmt: cid for fmt, (cid, _doc) in documents.items()}}}


def store_documents(session: Session, payload: AwardPayload, documents: dict[str, tuple[str, str]], *, key: Any,
                    status_list_id: int, status_index: int, issued_at: datetime) -> None:
    """The Credential rows of one award (and the audit entry), in the caller's transaction."""
    session.execute(insert(Credential), credential_rows(payload, documents, status_list_id=status_list_id,
                                                        status_index=status_index, issued_at=issued_at))
    session.flush()
    audit_many(session, [issued_audit(payload, documents, key=key, status_list_id=status_list_id,
                                      status_index=status_index)])


class EmbeddedAdapter:
    name = "embedded"

    def __init__(self, db: Database, base_url: str) -> None:
        self.db = db
        self.base_url = base_url.rstrip("/")

    def _stored(self, session: Session, award_id: int) -> IssueResult | None:
        rows = list(session.scalars(select(Credential).where(Credential.award_id == award_id,
                                                             Credential.target == self.name)
                                    .order_by(Credential.id)))
        if not rows:
            return None
        return IssueResult(external_id=rows[0].uuid, documents={r.format: r.uuid for r in rows})

    def lookup(self, idempotency_key: str, payload: AwardPayload) -> IssueResult | None:
        with self.db.unit_of_work() as session:
            return self._stored(session, payload.award_id)

    def issue(self, payload: AwardPayload, idempotency_key: str) -> IssueResult:
        try:
            with self.db.unit_of_work() as session:
                existing = self._stored(session, payload.award_id)
                if existing is not None:
                    return existing
                return self._issue(session, payload, idempotency_key)
        except IntegrityError:
            # a concurrent worker stored this award's credentials first: theirs stand
            with self.db.unit_of_work() as session:
                existing = self._stored(session, payload.award_id)
            if existing is None:
                raise
            return existing

    def _issue(self, session: Session, payload: AwardPayload, idempotency_key: str) -> IssueResult:
        school = session.get(School, payload.school_id)
        learner = session.get(Learner, payload.learner_id)
        assert school is not None and learner is not None
        check_learner(learner)
        key = current_school_key(session, school, self.base_url)
        status_list, index = allocate(session, school.id)
        session.flush()
        issued_at = datetime.now(UTC).replace(microsecond=0)
        documents = sign_award(payload, idempotency_key, school=school, learner=learner, key=key,
                               base_url=self.base_url, status_list_id=status_list.id, status_index=index,
                               issued_at=issued_at)
        store_documents(session, payload, documents, key=key, status_list_id=status_list.id, status_index=index,
                        issued_at=issued_at)
        session.flush()
        first = next(iter(documents))
        return IssueResult(external_id=documents[first][0], documents={f: d[0] for f, d in documents.items()})

    def revoke(self, external_id: str, reason: str) -> None:
        """Embedded credentials are revoked in the store (status bit) by the revocation service."""
