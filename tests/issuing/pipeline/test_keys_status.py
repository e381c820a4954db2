from __future__ import annotations

import threading

import jwt
import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from credbridge.connector.issuing.formats import StatusList as Bitstring
from credbridge.connector.issuing.formats import verify_jwt
from credbridge.connector.issuing.formats.keys import generate_ed25519, private_key_to_pem, public_jwk
from credbridge.connector.issuing.keys import (
    current_school_key,
    rotate_school_key,
    school_did_document,
    school_jwks,
)
from credbridge.connector.issuing.status import (
    AlreadyRevoked,
    allocate,
    get_bit,
    revoke_credential,
    status_list_credential_jwt,
    with_bit,
)
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import AuditEntry, Credential, School, SigningKey, StatusList
from credbridge.connector.store.secrets import Secret
from tests.awards.conftest import EvidenceBook
from tests.awards.test_decide import BASE as DECIDE_BASE
from tests.awards.test_decide import _evaluate, _setup, _worker
from tests.issuing.pipeline import factories
from tests.mappings.helpers import Facts

BASE = "https://cb.example.org:8443"


def test_rotated_keys_stay_resolvable(database: Database) -> None:
    book = EvidenceBook()
    school_id, learner_id = _setup(database)
    book.facts[learner_id] = [Facts.comp("ME-C1", fid="c1")]
    _evaluate(database, book, school_id, learner_id)
    _worker(database).run_once()
    with database.unit_of_work() as s:
        school = s.get(School, school_id)
        old = current_school_key(s, school, DECIDE_BASE)
        token = s.scalars(select(Credential).where(Credential.format == "ob3-jwt")).one().document
        rotate_school_key(s, school, actor="admin@school")
        new = current_school_key(s, school, DECIDE_BASE)
        document = school_did_document(s, school, DECIDE_BASE)
        kids = [k["kid"] for k in school_jwks(s, school, DECIDE_BASE)["keys"]]
        rotation = s.scalars(select(AuditEntry).where(AuditEntry.action == "credential_key.rotated")).one()
    assert new.name != old.name and rotation.actor == "admin@school"
    assert kids[0].endswith("#" + new.name) and kids[1].endswith("#" + old.name)
    assert jwt.get_unverified_header(token)["kid"] == old.verification_method
    # the credential signed before the rotation still verifies against the published document
    verdict = verify_jwt(token, lambda did: document)
    assert verdict.ok, verdict


def test_private_keys_are_encrypted_at_rest(sqlite_database: Database) -> None:
    with sqlite_database.unit_of_work() as s:
        school = factories.school(s)
        current_school_key(s, school, BASE)
    with sqlite_database.engine.connect() as connection:
        raw = connection.exec_driver_sql("SELECT private_key FROM signing_key").scalar_one()
    assert b"PRIVATE KEY" not in bytes(raw)


def test_allocation_is_sequential_and_rolls_over_when_full(database: Database) -> None:
    with database.unit_of_work() as s:
        school = factories.school(s)
        indexes = [allocate(s, school.id, size_bits=16) for _ in range(18)]
    lists = {lst.id for lst, _ in indexes}
    assert len(lists) == 2
    assert [i for _, i in indexes] == [*range(16), 0, 1]
    with database.unit_of_work() as s:
        assert [sl.full for sl in s.scalars(select(StatusList).order_by(StatusList.id))] == [True, False]


@pytest.mark.postgres
def test_concurrent_allocations_never_share_an_index(postgres_database: Database) -> None:
    with postgres_database.unit_of_work() as s:
        school_id = factories.school(s).id
        allocate(s, school_id)  # the list exists before the race
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(20):
            with postgres_database.unit_of_work() as s:
                _, index = allocate(s, school_id)
            with lock:
                results.append(index)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(1, 81))


def test_bits_follow_the_w3c_order() -> None:
    bits = with_bit(bytes(2), 0)
    assert bits == b"\x80\x00" and get_bit(bits, 0) and not get_bit(bits, 1)
    assert with_bit(bits, 9) == b"\x80\x40"
    assert with_bit(b"\x80\x40", 9, False) == b"\x80\x00"
    with pytest.raises(Exception, match="outside"):
        with_bit(bits, 16)


def test_revocation_flips_the_published_bit(database: Database) -> None:
    with database.unit_of_work() as s:
        school = factories.school(s)
        award = factories.award(s, school, factories.learner(s, school))
        status_list, index = allocate(s, school.id)
        s.flush()
        credential = Credential(uuid="5c2b4f1e-0000-4000-8000-000000000001", award_id=award.id,
                                school_id=school.id, format="ob3-jwt", document="x",
                                status_list_id=status_list.id, status_index=index)
        s.add(credential)
        s.flush()
        revoke_credential(s, credential, reason="issued in error", actor="admin@school")
        with pytest.raises(AlreadyRevoked):
            revoke_credential(s, credential, reason="again", actor="admin@school")
        with pytest.raises(ValueError, match="reason"):
            revoke_credential(s, Credential(uuid="x", award_id=award.id, school_id=school.id, format="elm",
                                            document="x"), reason=" ", actor="a")
        token = status_list_credential_jwt(s, school, status_list, BASE)
        document = school_did_document(s, school, BASE)
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "credential.revoked")).one()
        assert entry.actor == "admin@school" and entry.details["reason"] == "issued in error"
    verdict = verify_jwt(token, lambda did: document)
    assert verdict.ok, verdict
    encoded = jwt.decode(token, options={"verify_signature": False})["credentialSubject"]["encodedList"]
    assert Bitstring.decode(encoded).get(index)


@pytest.mark.postgres
def test_concurrent_first_use_creates_one_school_key(postgres_database: Database) -> None:
    with postgres_database.unit_of_work() as s:
        school_id = factories.school(s).id
    barrier = threading.Barrier(4)
    names: list[str] = []
    errors: list[BaseException] = []

    def first_use() -> None:
        try:
            with postgres_database.unit_of_work() as s:
                school = s.get(School, school_id)
                barrier.wait()
                names.append(current_school_key(s, school, BASE).name)
        except BaseException as exc:  # a thread's exception is otherwise only printed, not reported by pytest
            errors.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(names) == 4 and len(set(names)) == 1
    with postgres_database.unit_of_work() as s:
        assert len(s.scalars(select(SigningKey).where(SigningKey.school_id == school_id)).all()) == 1


def test_the_database_keeps_one_current_key_per_school(database: Database) -> None:
    with database.unit_of_work() as s:
        school = factories.school(s)
        current_school_key(s, school, BASE)
        school_id, slug = school.id, school.slug
    second = SigningKey(school_id=school_id, purpose="credential", kid=f"{slug}/other", alg="EdDSA",
                        private_key=Secret(b"x"), public_jwk={})
    with pytest.raises(IntegrityError), database.unit_of_work() as s:
        s.add(second)
    with database.unit_of_work() as s:
        assert len(s.scalars(select(SigningKey).where(SigningKey.school_id == school_id)).all()) == 1


@pytest.mark.postgres
def test_a_key_committed_between_check_and_insert_is_used_not_doubled(postgres_database: Database) -> None:
    # the race CI once hit, made deterministic: another worker commits the school's first key after
    # this one found none and before it inserts its own (with a different name, so only the
    # one-current-key index can notice)
    with postgres_database.unit_of_work() as s:
        school_id = factories.school(s).id

    def competitor_commits_first(session, flush_context, instances) -> None:
        with postgres_database.unit_of_work() as other:
            school = other.get(School, school_id)
            private = generate_ed25519()
            other.add(SigningKey(school_id=school_id, purpose="credential", kid=f"{school.slug}/theirs",
                                 alg="EdDSA", private_key=Secret(private_key_to_pem(private)),
                                 public_jwk=public_jwk(private.public_key())))

    with postgres_database.unit_of_work() as s:
        event.listen(s, "before_flush", competitor_commits_first, once=True)
        key = current_school_key(s, s.get(School, school_id), BASE)
    assert key.name == "theirs"
    with postgres_database.unit_of_work() as s:
        rows = s.scalars(select(SigningKey).where(SigningKey.school_id == school_id)).all()
        created = s.scalars(select(AuditEntry).where(AuditEntry.action == "credential_key.created")).all()
    assert [r.kid.split("/")[1] for r in rows] == ["theirs"]
    assert created == []  # the key this worker did not keep is not in the audit log either
