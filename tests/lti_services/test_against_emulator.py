"""NRPS and AGS against the emulated Moodle over HTTP (CERT §6.3, §6.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
import requests

from credbridge.connector.keys import ToolKey
from credbridge.connector.lti_services import Ags, Score, ServiceClient, ServiceError, TokenError, fetch_memberships
from credbridge.connector.lti_services.ags import SCOPE_LINEITEM_READONLY, SCOPE_SCORE
from credbridge.connector.lti_services.nrps import SCOPE as NRPS_SCOPE
from tests.lti.support import COURSE_ID, LEARNER_ID, OTHER_LEARNER_ID, TEACHER_ID, LtiEnvironment
from tests.lti.tokens import TEST_KID, platform_private_pem

BASE = "/mod/lti/services.php"


def _memberships_url(env: LtiEnvironment) -> str:
    return f"{env.platform_url}{BASE}/CourseSection/{COURSE_ID}/bindings/{env.tool.type_id}/memberships"


def _lineitems_url(env: LtiEnvironment) -> str:
    return f"{env.platform_url}{BASE}/{COURSE_ID}/lineitems?type_id={env.tool.type_id}"


def test_token_is_cached_per_scope_set(lti_env: LtiEnvironment, client: ServiceClient) -> None:
    first = client.access_token([NRPS_SCOPE])
    assert client.access_token([NRPS_SCOPE]) == first
    other = client.access_token([SCOPE_SCORE, NRPS_SCOPE])
    assert other != first
    assert len(lti_env.platform.access_tokens) == 2


def test_client_assertion_claims(lti_env: LtiEnvironment, client: ServiceClient) -> None:
    assertion = client.client_assertion()
    header = jwt.get_unverified_header(assertion)
    claims = jwt.decode(assertion, options={"verify_signature": False})
    assert header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == claims["sub"] == lti_env.tool.client_id
    assert claims["aud"] == lti_env.platform_url + "/mod/lti/token.php"
    assert claims["exp"] - claims["iat"] == 300 and claims["jti"]
    assert client.client_assertion() != assertion  # fresh jti


def test_nrps_pages_and_role_filter(lti_env: LtiEnvironment, client: ServiceClient) -> None:
    url = _memberships_url(lti_env)
    everyone = fetch_memberships(client, url)
    paged = fetch_memberships(client, url, limit=5)
    assert paged.pages > 1
    assert [m["user_id"] for m in paged.members] == [m["user_id"] for m in everyone.members]
    enrolled = {e.userid for e in lti_env.site.enrolments.values() if e.courseid == COURSE_ID and e.status == 0}
    assert {int(m["user_id"]) for m in everyone.members} == enrolled
    assert everyone.context["id"] == str(COURSE_ID)
    teachers = fetch_memberships(client, url, role="Instructor")
    assert str(TEACHER_ID) in {m["user_id"] for m in teachers.members}
    assert all(m["roles"] == ["Instructor"] for m in teachers.members)


def test_nrps_without_the_scope_is_refused(lti_env: LtiEnvironment, client: ServiceClient) -> None:
    token = client.access_token([SCOPE_SCORE])
    response = requests.get(_memberships_url(lti_env), headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 401
    no_token = requests.get(_memberships_url(lti_env), timeout=10)
    assert no_token.status_code == 401 and no_token.json()["reason"] == "Unauthorized"


def test_ags_line_items_scores_results(lti_env: LtiEnvironment, client: ServiceClient) -> None:
    ags = Ags(client)
    items = ags.line_items(_lineitems_url(lti_env))
    assert len(items) == 1 and items[0]["id"].endswith(f"/lineitem?type_id={lti_env.tool.type_id}")
    created = ags.create_line_item(_lineitems_url(lti_env), label="Bonus", score_maximum=20, resource_id="bonus-1",
                                   tag="bonus")
    assert created["id"] and created["scoreMaximum"] == 20
    assert [i["resourceId"] for i in ags.line_items(_lineitems_url(lti_env), resource_id="bonus-1")] == ["bonus-1"]
    # paging with Moodle's typographic-quote Link header
    assert len(ags.line_items(_lineitems_url(lti_env) + "&limit=1")) == 2

    lineitem = items[0]["id"]
    sent = [ags.post_score(lineitem, Score(user_id=str(LEARNER_ID), score_given=g, score_maximum=10))
            for g in (5, 8)]  # twice in the same second: the client keeps timestamps increasing
    assert sent[1]["timestamp"] > sent[0]["timestamp"]
    assert sent[0]["timestamp"].endswith("Z") and "." not in sent[0]["timestamp"]
    results = ags.results(lineitem)
    assert [(r["userId"], r["resultScore"]) for r in results] == [(str(LEARNER_ID), 80.0)]
    assert ags.results(lineitem, user_id=str(OTHER_LEARNER_ID)) == []


def test_score_with_an_old_timestamp_is_409(lti_env: LtiEnvironment, client: ServiceClient) -> None:
    lineitem = Ags(client).line_items(_lineitems_url(lti_env))[0]["id"]
    now = datetime.now(UTC)
    Ags(client).post_score(lineitem, Score(user_id=str(LEARNER_ID), score_given=1, score_maximum=1, timestamp=now))
    with pytest.raises(ServiceError) as info:  # a new client (another process) re-sending the same second
        Ags(client).post_score(lineitem, Score(user_id=str(LEARNER_ID), score_given=1, score_maximum=1,
                                               timestamp=now - timedelta(seconds=5)))
    assert info.value.status == 409 and info.value.service == "AGS score"
    assert "409" in str(info.value) and "Conflict" in str(info.value)


def test_score_for_a_teacher_is_400(lti_env: LtiEnvironment, client: ServiceClient) -> None:
    lineitem = Ags(client).line_items(_lineitems_url(lti_env))[0]["id"]
    with pytest.raises(ServiceError) as info:
        Ags(client).post_score(lineitem, Score(user_id=str(TEACHER_ID), score_given=1, score_maximum=1))
    assert info.value.status == 400


def test_media_types_are_enforced(lti_env: LtiEnvironment, client: ServiceClient) -> None:
    lineitem = Ags(client).line_items(_lineitems_url(lti_env))[0]["id"]
    token = client.access_token([SCOPE_SCORE, SCOPE_LINEITEM_READONLY])
    auth = {"Authorization": f"Bearer {token}"}
    score_url = lineitem.replace("/lineitem?", "/lineitem/scores?")
    wrong_type = requests.post(score_url, headers={**auth, "Content-Type": "application/json"},
                               json={"userId": str(LEARNER_ID), "timestamp": "2030-01-01T00:00:00Z",
                                     "activityProgress": "Completed", "gradingProgress": "FullyGraded"}, timeout=10)
    assert wrong_type.status_code == 400
    any_accept = requests.get(_lineitems_url(lti_env), headers={**auth, "Accept": "*/*"}, timeout=10)
    assert any_accept.status_code == 400


def test_readonly_token_cannot_score(lti_env: LtiEnvironment, client: ServiceClient) -> None:
    lti_env.tool.scopes = frozenset({SCOPE_LINEITEM_READONLY})
    lineitem = Ags(client).line_items(_lineitems_url(lti_env))[0]["id"]
    with pytest.raises(TokenError) as info:
        Ags(client).post_score(lineitem, Score(user_id=str(LEARNER_ID), score_given=1, score_maximum=1))
    assert info.value.error == "invalid_scope" and info.value.status == 400


def test_assertion_with_unknown_key_or_wrong_audience_is_refused(lti_env: LtiEnvironment) -> None:
    stranger = ToolKey(kid=TEST_KID, private_pem=platform_private_pem(), public_jwk={})
    token_url = lti_env.platform_url + "/mod/lti/token.php"
    client = ServiceClient(client_id=lti_env.tool.client_id, token_url=token_url, key=stranger)
    with pytest.raises(TokenError) as info:
        client.access_token([NRPS_SCOPE])
    assert info.value.status == 400 and "kid" in str(info.value)


def test_wrong_audience_is_invalid_client(lti_env: LtiEnvironment, client: ServiceClient) -> None:
    client.token_audience = lti_env.platform_url + "/somewhere-else"
    with pytest.raises(TokenError) as info:
        client.access_token([NRPS_SCOPE])
    assert info.value.error == "invalid_client"


def test_unknown_client_is_invalid_client(lti_env: LtiEnvironment, client: ServiceClient) -> None:
    client.client_id = "not-registered"
    with pytest.raises(TokenError) as info:
        client.access_token([NRPS_SCOPE])
    assert info.value.error == "invalid_client" and "token" in str(info.value)


def test_unreachable_platform_is_a_clear_error(client: ServiceClient) -> None:
    client.token_url = "http://127.0.0.1:9/mod/lti/token.php"
    with pytest.raises(TokenError) as info:
        client.access_token([NRPS_SCOPE])
    assert info.value.status is None and "cannot reach" in str(info.value)


def test_platform_services_share_one_client_and_token_per_registration(lti_env: LtiEnvironment) -> None:
    from credbridge.connector.lti_services import PlatformServices
    from credbridge.connector.store.models import LtiRegistration

    services = PlatformServices(lti_env.runtime.db)
    with lti_env.runtime.db.unit_of_work() as db:
        registration = db.get(LtiRegistration, lti_env.registration_id)
        db.expunge(registration)
    ags = services.ags(registration)
    assert services.ags(registration) is ags and services.client(registration) is ags.client
    lineitem = ags.line_items(_lineitems_url(lti_env))[0]["id"]
    for given in (1, 2, 3):
        services.ags(registration).post_score(lineitem, Score(user_id=str(LEARNER_ID), score_given=given,
                                                              score_maximum=3))
    assert len(lti_env.platform.access_tokens) == 2  # one for line items, one for scores
    assert ags.results(lineitem)[0]["resultScore"] == 100.0
