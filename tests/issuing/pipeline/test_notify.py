from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from credbridge.connector.awards.catalogue import import_mapping_file
from credbridge.connector.issuing.adapters.embedded import EmbeddedAdapter
from credbridge.connector.issuing.notify import notify_award
from credbridge.connector.issuing.pipeline.worker import OutboxWorker, WorkerConfig
from credbridge.connector.settings import Settings
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import (
    AuditEntry,
    LearnerIdentity,
    LmsConnection,
    LtiRegistration,
    ResourceLinkTemplate,
)
from tests.awards.conftest import EvidenceBook
from tests.awards.test_decide import MAPPING, _evaluate
from tests.conftest import TEST_SECRET_KEY
from tests.issuing.pipeline import factories
from tests.mappings.helpers import Facts

BASE = "https://cb.example.org"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[object] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def _issued(db: Database, **policy) -> int:
    book = EvidenceBook()
    with db.unit_of_work() as s:
        school = factories.school(s, **policy)
        import_mapping_file(s, school, MAPPING, "admin")
        learner = factories.learner(s, school)
        connection = LmsConnection(school_id=school.id, name="moodle", base_url="https://moodle.example",
                                   ws_token="t")
        s.add(connection)
        s.flush()
        s.add(LearnerIdentity(learner_id=learner.id, connection_id=connection.id, external_id="5", username="ana"))
        registration = LtiRegistration(school_id=school.id, connection_id=connection.id,
                                       issuer="https://moodle.example", client_id="abc",
                                       auth_login_url="https://m/login", auth_token_url="https://m/token",
                                       key_set_url="https://m/jwks")
        s.add(registration)
        s.flush()
        s.add(ResourceLinkTemplate(registration_id=registration.id, context_id="2", resource_link_id="rl1",
                                   template_code="TD-BASICS", lineitem_url="https://moodle.example/lineitem/7"))
        school_id, learner_id = school.id, learner.id
    book.facts[learner_id] = [Facts.comp("ME-C1", fid="c1")]
    _evaluate(db, book, school_id, learner_id)
    OutboxWorker(db, lambda school, target: EmbeddedAdapter(db, BASE), WorkerConfig(owner="t")).run_once()
    from credbridge.connector.store.models import Award

    with db.unit_of_work() as s:
        return s.scalars(select(Award)).one().id


def test_email_and_ags_score_after_issuance(sqlite_database: Database, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    award_id = _issued(sqlite_database, notify_email=True, ags_score=True)
    settings = Settings(secret_key=TEST_SECRET_KEY, base_url=BASE, smtp_host="127.0.0.1", smtp_port=port,
                        smtp_from="credentials@school.example")
    posted = []
    result = notify_award(sqlite_database, settings, award_id,
                          post_score=lambda reg, url, user, comment: posted.append((reg.client_id, url, user, comment)))
    assert result.emailed and result.scores_posted == 1
    [envelope] = inbox.messages
    assert envelope.rcpt_tos == ["ana1@example.org"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["Subject"] == "Your micro-credential: Osnove tehničkog crtanja"
    body = message.get_content()
    assert "Dear Ana Horvat 1" in body and f"{BASE}/credentials/" in body
    assert posted == [("abc", "https://moodle.example/lineitem/7", "5", "Credential issued: Osnove tehničkog crtanja")]
    with sqlite_database.unit_of_work() as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "award.notified")).one()


def test_nothing_sent_when_the_school_switched_it_off(sqlite_database: Database, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    award_id = _issued(sqlite_database, ags_score=False)
    settings = Settings(secret_key=TEST_SECRET_KEY, base_url=BASE, smtp_host="127.0.0.1", smtp_port=port)
    result = notify_award(sqlite_database, settings, award_id, post_score=lambda *a: pytest.fail("no AGS"))
    assert not result.emailed and result.scores_posted == 0 and not inbox.messages
    assert "e-mail disabled by the school" in result.skipped and "AGS score disabled by the school" in result.skipped


def test_by_default_the_ags_score_is_posted_where_the_platform_granted_ags(sqlite_database: Database,
                                                                          smtp: tuple[Inbox, int]) -> None:
    """No choice made: the score goes to the line item Moodle sent (it sends one only with AGS granted);
    the e-mail, which needs the school's SMTP server, stays off."""
    inbox, port = smtp
    award_id = _issued(sqlite_database)
    settings = Settings(secret_key=TEST_SECRET_KEY, base_url=BASE, smtp_host="127.0.0.1", smtp_port=port)
    posted = []
    result = notify_award(sqlite_database, settings, award_id, post_score=lambda *a: posted.append(a))
    assert result.scores_posted == 1 and len(posted) == 1
    assert not result.emailed and not inbox.messages


def test_ags_score_goes_through_the_lti_services_client(sqlite_database: Database) -> None:
    from credbridge.connector.issuing.notify import ags_post_credential_score
    from tests.issuing.adapters.fakes import FakeAgsPlatform

    platform = FakeAgsPlatform("abc").start()
    try:
        award_id = _issued(sqlite_database, ags_score=True)
        with sqlite_database.unit_of_work() as s:
            registration = s.scalars(select(LtiRegistration)).one()
            registration.auth_token_url = platform.url + "/token"
            link = s.scalars(select(ResourceLinkTemplate)).one()
            link.lineitem_url = platform.url + "/mod/lti/services.php/2/lineitems/7/lineitem"
        settings = Settings(secret_key=TEST_SECRET_KEY, base_url=BASE)
        poster = ags_post_credential_score(sqlite_database)
        result = notify_award(sqlite_database, settings, award_id, post_score=poster)
        assert result.scores_posted == 1
        [(path, score)] = platform.scores
        assert path.endswith("/lineitem/scores")
        assert score["userId"] == "5" and score["scoreGiven"] == 1.0 and score["activityProgress"] == "Completed"
        assert score["comment"].startswith("Credential issued:")
    finally:
        platform.stop()
