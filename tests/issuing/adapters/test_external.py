"""Each external adapter against its fake service: success, the service's 4xx, 5xx, a timeout after
the service committed (then lookup finds it), 429 with Retry-After, bad credentials."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from credbridge.connector.issuing.adapters.accredible import AccredibleAdapter
from credbridge.connector.issuing.adapters.badgr import BadgrAdapter
from credbridge.connector.issuing.adapters.base import (
    AdapterConfigError,
    AmbiguousIssueError,
    AwardPayload,
    LookupUnsupported,
    PermanentIssueError,
    TransientIssueError,
)
from credbridge.connector.issuing.adapters.credly import CredlyAdapter
from credbridge.connector.issuing.adapters.edc import EdcAdapter
from credbridge.connector.issuing.adapters.http import encrypt_setting
from credbridge.connector.issuing.adapters.webhook import (
    SignatureError,
    WebhookAdapter,
    sign,
    verify_signature,
)
from tests.issuing.adapters.fakes import (
    FakeAccredible,
    FakeBadgr,
    FakeCredly,
    FakeEdc,
    FakeService,
    FakeWebhookReceiver,
    Faults,
)

PAYLOAD = AwardPayload(
    award_id=1, school_id=1, school_slug="tsrb", school_name="TSRB", learner_id=5, learner_name="Ana Horvat",
    learner_given_name="Ana", learner_family_name="Horvat", learner_email="ana@example.org",
    template_code="WELD-1", template_version=1, title="Welding basics",
    snapshot={"title": {"en": "Welding basics"}, "languages": ["en"]},
    achieved_at=datetime(2026, 6, 1, tzinfo=UTC), decided_at=datetime(2026, 6, 2, tzinfo=UTC))
KEY = "0f8e2a52-1111-5222-8333-944455556666"
ELM = {"id": "urn:uuid:11111111-2222-4333-8444-555555555555", "type": ["VerifiableCredential",
                                                                      "EuropeanDigitalCredential"]}


@dataclass
class Case:
    name: str
    fake: Callable[[], FakeService]
    adapter: Callable[[FakeService, dict[str, Any]], Any]
    bad_config: dict[str, Any]
    rejected_payload: AwardPayload | None
    supports_lookup: bool = True

    def __str__(self) -> str:
        return self.name


def _replace(**changes: Any) -> AwardPayload:
    from dataclasses import replace

    return replace(PAYLOAD, **changes)


CASES = [
    Case("webhook", lambda: FakeWebhookReceiver("s3cret-s3cret"),
         lambda f, extra: WebhookAdapter({"url": f.url + "/hook", "secret": "s3cret-s3cret", **extra}),
         {"secret": "wrong-secret"}, None),
    Case("edc", FakeEdc,
         lambda f, extra: EdcAdapter({"base_url": f.url, "username": "edc-user", "password": "edc-pass", **extra},
                                     lambda p: (ELM["id"], ELM)),
         {"password": "nope"}, None, supports_lookup=False),
    Case("badgr", FakeBadgr,
         lambda f, extra: BadgrAdapter({"base_url": f.url, "username": "admin@school", "password": "badgr-pass",
                                        "badgeclasses": {"WELD-1": "BC1", "OTHER": "BC-missing"}, **extra}),
         {"password": "nope"}, _replace(template_code="OTHER")),
    Case("credly", FakeCredly,
         lambda f, extra: CredlyAdapter({"base_url": f.url, "organization_id": "org-1", "token": "credly-token",
                                         "badge_templates": {"WELD-1": "tpl-1", "OTHER": "tpl-x"}, **extra}),
         {"token": "nope"}, _replace(template_code="OTHER")),
    Case("accredible", FakeAccredible,
         lambda f, extra: AccredibleAdapter({"base_url": f.url, "api_key": "acc-key",
                                             "groups": {"WELD-1": 77, "OTHER": 5}, **extra}),
         {"api_key": "nope"}, _replace(template_code="OTHER")),
]


@pytest.fixture(params=CASES, ids=str)
def case(request: pytest.FixtureRequest) -> Iterator[tuple[Case, FakeService]]:
    c: Case = request.param
    fake = c.fake().start()
    yield c, fake
    fake.stop()


def test_issue_then_lookup_finds_it(case: tuple[Case, FakeService]) -> None:
    c, fake = case
    adapter = c.adapter(fake, {})
    if c.supports_lookup:
        assert adapter.lookup(KEY, PAYLOAD) is None
    result = adapter.issue(PAYLOAD, KEY)
    assert result.external_id
    if c.supports_lookup:
        found = adapter.lookup(KEY, PAYLOAD)
        assert found is not None and found.external_id == result.external_id
    else:
        with pytest.raises(LookupUnsupported):
            adapter.lookup(KEY, PAYLOAD)
    adapter.revoke(result.external_id, "grade reversed")


def test_server_error_is_ambiguous(case: tuple[Case, FakeService]) -> None:
    c, fake = case
    fake.faults = Faults(script=["500"])
    with pytest.raises(AmbiguousIssueError, match="500"):
        c.adapter(fake, {}).issue(PAYLOAD, KEY)


def test_rate_limit_is_transient_with_retry_after(case: tuple[Case, FakeService]) -> None:
    c, fake = case
    fake.faults = Faults(script=["429"], retry_after=42)
    with pytest.raises(TransientIssueError) as error:
        c.adapter(fake, {}).issue(PAYLOAD, KEY)
    assert error.value.retry_after == 42


def test_timeout_after_commit_is_ambiguous_and_lookup_recovers(case: tuple[Case, FakeService]) -> None:
    c, fake = case
    fake.faults = Faults(script=["timeout_after_commit"], hang_seconds=1.0)
    adapter = c.adapter(fake, {"read_timeout": 0.3})
    with pytest.raises(AmbiguousIssueError, match="no answer"):  # the client gave up before the answer
        adapter.issue(PAYLOAD, KEY)
    if c.supports_lookup:
        assert adapter.lookup(KEY, PAYLOAD) is not None, "the target committed: lookup must find it"


def test_bad_credentials_are_a_permanent_error(case: tuple[Case, FakeService]) -> None:
    c, fake = case
    with pytest.raises(PermanentIssueError) as error:
        c.adapter(fake, c.bad_config).issue(PAYLOAD, KEY)
    assert error.value.status in (400, 401)


def test_service_rejection_keeps_its_error_body(case: tuple[Case, FakeService]) -> None:
    c, fake = case
    if c.rejected_payload is None:
        fake.faults = Faults(script=["400"])
        payload = PAYLOAD
    else:
        payload = c.rejected_payload
    with pytest.raises(PermanentIssueError) as error:
        c.adapter(fake, {}).issue(payload, KEY)
    assert error.value.status in (400, 404, 422) and error.value.body


def test_issuer_down_is_transient() -> None:
    # a bound socket that never listens: connections are refused, and no other test can take the port
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        with pytest.raises(TransientIssueError, match="refused"):
            WebhookAdapter({"url": url + "/hook", "secret": "s3cret-s3cret"}).issue(PAYLOAD, KEY)


def test_missing_settings_name_the_setting() -> None:
    with pytest.raises(AdapterConfigError, match="'organization_id'"):
        CredlyAdapter({"base_url": "https://api.credly.com", "token": "t", "badge_templates": {}})
    with pytest.raises(AdapterConfigError, match="base_url"):
        EdcAdapter({"base_url": "ftp://x", "username": "u", "password": "p"}, lambda p: None)


def test_encrypted_secrets_are_decrypted_for_use() -> None:
    fake = FakeCredly().start()
    try:
        adapter = CredlyAdapter({"base_url": fake.url, "organization_id": "org-1",
                                 "token": encrypt_setting("credly-token"), "badge_templates": {"WELD-1": "tpl-1"}})
        assert adapter.issue(PAYLOAD, KEY).external_id
    finally:
        fake.stop()


def test_badgr_refreshes_an_expired_token() -> None:
    fake = FakeBadgr().start()
    try:
        adapter = CASES[2].adapter(fake, {})
        adapter.issue(PAYLOAD, KEY)
        fake.expire_tokens()  # the server forgot the access token: 401, then one new token, then success
        adapter.issue(_replace(award_id=2), "other-key")
        assert fake.token_requests == ["password", "password"]
        assert len(fake.assertions) == 2
    finally:
        fake.stop()


def test_edc_waits_for_the_elm_document_and_seals_batches() -> None:
    fake = FakeEdc().start()
    try:
        waiting = EdcAdapter({"base_url": fake.url, "username": "edc-user", "password": "edc-pass"}, lambda p: None)
        with pytest.raises(TransientIssueError, match="not built yet"):
            waiting.issue(PAYLOAD, KEY)
        adapter = CASES[1].adapter(fake, {})
        results = adapter.issue_batch([(PAYLOAD, KEY), (PAYLOAD, KEY)])
        assert [r.external_id for r in results] == [ELM["id"], ELM["id"]]
    finally:
        fake.stop()


def test_accredible_bulk_create() -> None:
    fake = FakeAccredible().start()
    try:
        adapter = CASES[4].adapter(fake, {})
        results = adapter.issue_bulk([(PAYLOAD, "k1"), (_replace(learner_email="b@example.org"), "k2")])
        assert len(results) == 2 and len(fake.credentials) == 2
        assert adapter.lookup("k2", _replace(learner_email="b@example.org")).external_id == results[1].external_id
    finally:
        fake.stop()


def test_webhook_signature_checks() -> None:
    body = b'{"a":1}'
    now = 1_800_000_000
    good = sign("secret-1", now, body)
    verify_signature("secret-1", str(now), good, body, now=now + 10)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature("secret-2", str(now), good, body, now=now)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature("secret-1", str(now), good, b'{"a":2}', now=now)
    with pytest.raises(SignatureError, match="replay window"):
        verify_signature("secret-1", str(now), good, body, now=now + 301)
    with pytest.raises(SignatureError, match="replay window"):
        verify_signature("secret-1", str(now + 400), sign("secret-1", now + 400, body), body, now=now)
    with pytest.raises(SignatureError, match="missing"):
        verify_signature("secret-1", None, good, body, now=now)
    with pytest.raises(SignatureError, match="Unix seconds"):
        verify_signature("secret-1", "yesterday", good, body, now=now)


def test_webhook_receiver_refuses_a_bad_signature() -> None:
    fake = FakeWebhookReceiver("s3cret-s3cret").start()
    try:
        with pytest.raises(PermanentIssueError) as error:
            WebhookAdapter({"url": fake.url + "/hook", "secret": "wrong"}).issue(PAYLOAD, KEY)
        assert error.value.status == 401 and fake.rejected_signatures == 1 and not fake.issued
    finally:
        fake.stop()
