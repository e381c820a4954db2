"""The emulated platform's id_tokens carry the same claims as the recorded Moodle 4.5 ones."""

from __future__ import annotations

import jwt
import pytest

from credbridge.emulator.dataset import Site
from credbridge.emulator.lti_platform import LtiPlatform
from credbridge.lti.launch import claims as c
from tests.lti.support import COURSE_ID, FIXTURES, LEARNER_ID, TEACHER_ID
from tests.lti.tokens import recorded


@pytest.fixture(scope="module")
def platform() -> LtiPlatform:
    platform = LtiPlatform(Site.from_recording(FIXTURES / "testdata.json"), base_url="http://127.0.0.1:8080")
    tool = platform.add_tool("http://127.0.0.1:5055", client_id="63f37xS9yJfBaXO",
                             custom={"vet_programme": "mechanical_engineering", "user_idnumber": "$Person.sourcedId",
                                     "user_username": "$User.username", "course_idnumber": "$CourseSection.sourcedId"})
    platform.add_link(COURSE_ID, tool, name="CNC machining simulator (LTI 1.3)")
    return platform


@pytest.mark.parametrize(("recording", "user_id", "message_type"), [
    ("instructor", TEACHER_ID, c.RESOURCE_LINK_REQUEST),
    ("learner", LEARNER_ID, c.RESOURCE_LINK_REQUEST),
    ("deep_linking", TEACHER_ID, c.DEEP_LINKING_REQUEST),
])
def test_claims_match_the_recorded_moodle(platform: LtiPlatform, recording: str, user_id: int,
                                          message_type: str) -> None:
    _, real = recorded(recording)
    tool = platform.default_tool()
    link = next(iter(platform.links.values())) if message_type == c.RESOURCE_LINK_REQUEST else None
    made = platform.id_token_claims(tool, user_id, COURSE_ID, message_type, "n", link)
    assert set(made) == set(real)
    for claim in (c.CONTEXT, c.LIS, c.EXT, c.TOOL_PLATFORM, c.LAUNCH_PRESENTATION, c.CUSTOM, c.AGS_ENDPOINT, c.NRPS):
        assert set(made[claim]) == set(real[claim]), claim
    assert made[c.CONTEXT] == real[c.CONTEXT]
    assert made[c.LIS] == real[c.LIS] and made[c.ROLES] == real[c.ROLES]
    assert made["exp"] - made["iat"] == 60 and made["sub"] == real["sub"]
    assert made[c.CUSTOM] == real[c.CUSTOM]
    if message_type == c.DEEP_LINKING_REQUEST:
        assert set(made[c.DL_SETTINGS]) == set(real[c.DL_SETTINGS])
    token = platform._sign(made)
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": platform.kid, "typ": "JWT"}
