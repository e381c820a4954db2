"""End to end: evaluation -> award -> embedded signer -> a verifier reading our DID document and our
status list says valid; after a revocation the same verifier says revoked."""

from __future__ import annotations

import json

from sqlalchemy import select

from credbridge.connector.awards import actions
from credbridge.connector.issuing.formats import verify_data_integrity, verify_jwt
from credbridge.connector.issuing.keys import school_did_document
from credbridge.connector.issuing.status import status_list_credential_jwt
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Award, Credential, School, StatusList
from tests.awards.conftest import EvidenceBook
from tests.awards.test_decide import BASE, _evaluate, _setup, _worker
from tests.mappings.helpers import cnc_operator_learner


def _providers(db: Database, school_id: int):  # type: ignore[no-untyped-def]
    def did_provider(did: str) -> dict:
        with db.unit_of_work() as s:
            return school_did_document(s, s.get(School, school_id), BASE)

    def status_provider(url: str) -> str:
        with db.unit_of_work() as s:
            school = s.get(School, school_id)
            status_list = s.get(StatusList, int(url.rsplit("/", 1)[-1]))
            return status_list_credential_jwt(s, school, status_list, BASE)

    return did_provider, status_provider


def _verify(db: Database, school_id: int, credential: Credential):  # type: ignore[no-untyped-def]
    did_provider, status_provider = _providers(db, school_id)
    if credential.format == "ob3-jwt":
        return verify_jwt(credential.document, did_provider, status_provider)
    return verify_data_integrity(json.loads(credential.document), did_provider, status_provider)


def test_issued_credentials_verify_and_revocation_shows(database: Database) -> None:
    book = EvidenceBook()
    school_id, learner_id = _setup(database)
    book.facts[learner_id] = cnc_operator_learner()
    _evaluate(database, book, school_id, learner_id)
    with database.unit_of_work() as s:
        cnc = s.scalars(select(Award).where(Award.template_code == "CNC-OPERATOR")).one()
        actions.approve(s, school_id, cnc.id, actor="teacher@school")
    _worker(database).run_once()
    with database.unit_of_work() as s:
        signed = [c for c in s.scalars(select(Credential).where(Credential.award_id == cnc.id))
                  if c.format in ("ob3-jwt", "ob3-di")]
    assert sorted(c.format for c in signed) == ["ob3-di", "ob3-jwt"]
    for credential in signed:
        result = _verify(database, school_id, credential)
        assert result.ok, [c.message for c in result.failures]
        assert any(c.code == "status" and c.passed for c in result.checks)

    with database.unit_of_work() as s:
        actions.revoke(s, school_id, cnc.id, reason="practical task re-marked as failed", actor="teacher@school")
    for credential in signed:
        result = _verify(database, school_id, credential)
        assert not result.ok
        assert any(c.code == "status" and not c.passed and "revoked" in c.message.lower() for c in result.checks), \
            [c.message for c in result.checks]
    with database.unit_of_work() as s:
        reasons = {c.revocation_reason for c in s.scalars(select(Credential).where(Credential.award_id == cnc.id))}
    assert reasons == {"practical task re-marked as failed"}
