"""Deep linking end to end (CERT §6.2): the teacher picks templates, Moodle gets a signed response."""

from __future__ import annotations

import jwt
import pytest
import requests
from sqlalchemy import select

from credbridge.connector.store.models import ResourceLinkTemplate, TemplateDefinition
from credbridge.lti.launch import claims as c
from tests.lti.support import COURSE_ID, LEARNER_ID, TEACHER_ID, LtiEnvironment, forms, launch, submit_autopost


@pytest.fixture
def with_templates(lti_env: LtiEnvironment) -> LtiEnvironment:
    with lti_env.runtime.db.unit_of_work() as db:
        for code, title in (("CNC-BASICS", "CNC basics"), ("CNC-SAFETY", "Machine safety")):
            db.add(TemplateDefinition(school_id=lti_env.school_id, code=code, title=title, definition={}))
    return lti_env


def _picker(env: LtiEnvironment, http: requests.Session) -> dict:
    page = launch(http, env.platform, TEACHER_ID, COURSE_ID, message_type="LtiDeepLinkingRequest")
    assert page.status_code == 200, page.text
    assert page.url.endswith("/lti/deep-link")
    form = forms(page.text)[0]
    assert form["multi"]["template"] == ["CNC-BASICS", "CNC-SAFETY"]
    return form


def test_deep_linking_response_is_accepted_by_the_platform_and_recorded_at_launch(
        with_templates: LtiEnvironment) -> None:
    env = with_templates
    http = env.browser()
    form = _picker(env, http)
    answer = http.post(env.tool_url + "/lti/deep-link", data={**form["fields"], "template": ["CNC-BASICS",
                                                                                             "CNC-SAFETY"],
                                                              "grade_item": "1", "title": "CNC credentials"})
    assert answer.status_code == 200, answer.text
    autopost = forms(answer.text)[0]
    assert list(autopost["fields"]) == ["JWT"]
    assert autopost["action"].startswith(env.platform_url + "/mod/lti/contentitem_return.php")
    token = autopost["fields"]["JWT"]

    # CERT 6.2: format, claims, timestamps, signature (with the tool's published JWKS)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"]
    jwks = requests.get(env.tool_url + "/.well-known/jwks.json", timeout=10).json()
    key = next(jwt.PyJWK(k).key for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=env.platform_url)
    assert claims["iss"] == env.tool.client_id
    assert claims[c.MESSAGE_TYPE] == "LtiDeepLinkingResponse" and claims[c.VERSION] == "1.3.0"
    assert claims[c.DEPLOYMENT_ID] == env.tool.deployment_id
    assert claims["nonce"] and claims["exp"] > claims["iat"]
    (item,) = claims[c.DL_CONTENT_ITEMS]
    assert item["type"] == "ltiResourceLink" and "url" not in item
    assert item["custom"] == {"credential_templates": "CNC-BASICS,CNC-SAFETY"}
    assert item["lineItem"]["scoreMaximum"] == 100 and item["title"] == "CNC credentials"

    returned = submit_autopost(http, answer)
    assert returned.status_code == 200, returned.text
    (cmid,) = env.platform.deep_link_returns[-1]["cmids"]

    page = launch(env.browser(), env.platform, LEARNER_ID, COURSE_ID, cmid=cmid)
    assert page.status_code == 200
    with env.runtime.db.unit_of_work() as db:
        rows = db.scalars(select(ResourceLinkTemplate).order_by(ResourceLinkTemplate.template_code)).all()
        assert [r.template_code for r in rows] == ["CNC-BASICS", "CNC-SAFETY"]
        assert rows[0].context_id == str(COURSE_ID)
        assert rows[0].resource_link_id == str(env.platform.links[cmid].instance)
        assert rows[0].lineitem_url and "/lineitems/" in rows[0].lineitem_url
    teacher_page = launch(env.browser(), env.platform, TEACHER_ID, COURSE_ID, cmid=cmid)
    assert "CNC-BASICS" in teacher_page.text


def test_deep_linking_form_needs_the_csrf_token(with_templates: LtiEnvironment) -> None:
    http = with_templates.browser()
    form = _picker(with_templates, http)
    fields = {k: v for k, v in form["fields"].items() if k != "csrf_token"}
    response = http.post(with_templates.tool_url + "/lti/deep-link", data={**fields, "template": "CNC-BASICS"})
    assert response.status_code == 400
    assert "CSRF" in response.text


def test_unknown_or_no_template_is_refused(with_templates: LtiEnvironment) -> None:
    http = with_templates.browser()
    form = _picker(with_templates, http)
    unknown = http.post(with_templates.tool_url + "/lti/deep-link", data={**form["fields"], "template": "NOPE"})
    assert unknown.status_code == 400 and "NOPE" in unknown.text
    # nothing chosen: the same picker again, with what to do (not a "Bad request" dead end)
    none = http.post(with_templates.tool_url + "/lti/deep-link", data={**form["fields"], "grade_item": "1",
                                                                       "title": "My link"})
    assert none.status_code == 400 and "Bad request" not in none.text
    assert "Choose at least one micro-credential, then press Attach again." in none.text
    again = forms(none.text)[0]
    assert again["multi"]["template"] == ["CNC-BASICS", "CNC-SAFETY"] and again["fields"]["title"] == "My link"
    assert 'id="grade_item" name="grade_item" value="1" checked' in none.text  # what was entered is kept


def test_learner_cannot_deep_link(with_templates: LtiEnvironment) -> None:
    http = with_templates.browser()
    launch(http, with_templates.platform, LEARNER_ID, COURSE_ID)
    assert http.get(with_templates.tool_url + "/lti/deep-link").status_code == 403


def test_resource_link_session_cannot_post_a_deep_link(with_templates: LtiEnvironment) -> None:
    http = with_templates.browser()
    launch(http, with_templates.platform, TEACHER_ID, COURSE_ID)
    assert http.get(with_templates.tool_url + "/lti/deep-link").status_code == 403


def test_picker_speaks_the_teachers_moodle_language(with_templates: LtiEnvironment) -> None:
    # the emulated Moodle sends the user's language as launch_presentation.locale, as Moodle does
    teacher = with_templates.platform.site.user(TEACHER_ID)
    teacher.lang = "hr"
    try:
        page = launch(with_templates.browser(), with_templates.platform, TEACHER_ID, COURSE_ID,
                      message_type="LtiDeepLinkingRequest")
    finally:
        teacher.lang = "en"
    assert page.status_code == 200 and '<html lang="hr">' in page.text
    assert "Priloži predloške vjerodajnica" in page.text and "Stvori stavku ocjene" in page.text
    assert forms(page.text)[0]["multi"]["template"] == ["CNC-BASICS", "CNC-SAFETY"]
