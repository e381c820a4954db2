"""Which learner a Moodle account is, in sync and at launch: never two accounts of one Moodle as one
person (siblings sharing a family e-mail, where Moodle allows it), while the same person on a
second Moodle or from a CSV import is still recognised by idnumber or e-mail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from credbridge.connector.moodle.functions import EnrolledUser
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Learner, LearnerIdentity, LmsConnection, LtiRegistration, School
from credbridge.connector.store.secrets import Secret
from credbridge.connector.sync.store import learners_for
from credbridge.lti.launch.identity import link_learner

FAMILY = "obitelj.horvat@example.hr"


def _user(moodle_id: int, name: str, email: str | None = FAMILY, idnumber: str | None = None) -> EnrolledUser:
    first, last = name.split()
    return EnrolledUser(id=moodle_id, username=first.lower(), firstname=first, lastname=last, fullname=name,
                        email=email, idnumber=idnumber, lastcourseaccess=None, roles=("student",))


def _world(database: Database) -> tuple[int, int, int]:
    with database.unit_of_work() as s:
        school = School(slug="s", legal_name="S", country="HR")
        s.add(school)
        s.flush()
        first, second = (LmsConnection(school_id=school.id, name=n, base_url=f"https://{n}.example",
                                       ws_token=Secret(b"t" * 32)) for n in ("moodle", "second"))
        s.add_all([first, second])
        s.flush()
        return school.id, first.id, second.id


def _sync(database: Database, school_id: int, connection_id: int, *users: EnrolledUser) -> dict[int, int]:
    with database.unit_of_work() as s:
        known = {i.external_id: i for i in s.scalars(select(LearnerIdentity).where(
            LearnerIdentity.connection_id == connection_id,
            LearnerIdentity.external_id.in_([str(u.id) for u in users])))}
        return {moodle_id: lr.id for moodle_id, lr in learners_for(s, school_id, connection_id, users, known).items()}


def test_two_accounts_of_one_moodle_with_one_email_are_two_learners(database: Database) -> None:
    school_id, moodle, _ = _world(database)
    # in one batch, and across batches (the sibling enrolled in another course, synced later)
    together = _sync(database, school_id, moodle, _user(5, "Ana Horvat"), _user(6, "Ivo Horvat"))
    later = _sync(database, school_id, moodle, _user(7, "Eva Horvat"))
    assert len({*together.values(), *later.values()}) == 3
    again = _sync(database, school_id, moodle, _user(6, "Ivo Horvat"), _user(5, "Ana Horvat"))
    assert again == {5: together[5], 6: together[6]}  # and each stays who they were


def test_the_same_idnumber_twice_in_one_moodle_is_two_learners(database: Database) -> None:
    school_id, moodle, _ = _world(database)
    first = _sync(database, school_id, moodle, _user(5, "Ana Horvat", email=None, idnumber="0012"))
    second = _sync(database, school_id, moodle, _user(8, "Ana Kovač", email=None, idnumber="0012"))
    assert first[5] != second[8]


def test_a_second_moodle_or_a_csv_import_still_finds_the_person(database: Database) -> None:
    school_id, moodle, second = _world(database)
    with database.unit_of_work() as s:
        imported = Learner(school_id=school_id, full_name="Marko Marić", email="marko@example.hr", idnumber="0099")
        s.add(imported)
        s.flush()
        imported_id = imported.id
    on_first = _sync(database, school_id, moodle, _user(5, "Ana Horvat"),
                     _user(11, "Marko Marić", email="marko@example.hr"))
    assert on_first[11] == imported_id
    on_second = _sync(database, school_id, second, _user(40, "Ana Horvat"), _user(41, "Marko Marić", email=None,
                                                                                    idnumber="0099"))
    assert on_second == {40: on_first[5], 41: imported_id}


def _claims(sub: str, email: str = FAMILY, sourcedid: str = "") -> dict[str, Any]:
    return {"sub": sub, "email": email, "name": "Someone Horvat",
            "https://purl.imsglobal.org/spec/lti/claim/lis": {"person_sourcedid": sourcedid}}


def test_a_launch_does_not_take_over_a_learner_this_moodle_knows_as_someone_else(database: Database) -> None:
    school_id, moodle, second = _world(database)
    synced = _sync(database, school_id, moodle, _user(5, "Ana Horvat", idnumber="0012"))
    with database.unit_of_work() as s:
        registrations = [LtiRegistration(school_id=school_id, connection_id=conn, issuer=f"https://{n}.example",
                                         client_id="c", auth_login_url="https://a", auth_token_url="https://t",
                                         key_set_url="https://k")
                         for conn, n in ((moodle, "moodle"), (second, "second"))]
        s.add_all(registrations)
        s.flush()
        on_first, on_second = registrations
        # the same person launching from the school's other Moodle is recognised by e-mail
        assert link_learner(s, on_second, _claims("70")).id == synced[5]
        # user 9 of the first Moodle: same family e-mail, even the same idnumber, not yet synced
        sibling = link_learner(s, on_first, _claims("9", sourcedid="0012"))
        assert sibling is not None and sibling.id != synced[5]
        assert link_learner(s, on_first, _claims("5")).id == synced[5]
        assert link_learner(s, on_first, _claims("9")).id == sibling.id
