"""Hostile course names, learner names and mapping text render as text everywhere (raw HTML here; the
browser test checks the DOM)."""

from __future__ import annotations

import re

from tests.pages.conftest import HOSTILE_COURSE, HOSTILE_LEARNER, Env, csrf_token

RAW_MARKERS = ("<script>window.__xss", '<img src=x onerror="window.__xss', "onerror=\"window")


def _assert_inert(html: str) -> None:
    for marker in RAW_MARKERS:
        assert marker not in html, f"unescaped {marker!r}"
    # no attribute value broken out of by a quote: every tag's attributes stay well-formed
    assert not re.search(r'value="[^"]*"[^ >/]', html)


def test_teacher_pages_escape_course_and_learner_names(env: Env) -> None:
    client = env.teacher()
    html = client.get("/teacher/course/2").get_data(as_text=True)
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;window.__xss=2&#34;&gt;" in html
    _assert_inert(html)
    _assert_inert(client.get(f"/teacher/course/2?q={HOSTILE_LEARNER}").get_data(as_text=True))
    _assert_inert(client.get(f"/teacher/course/2/awards/{env.world.award_pending}/preview").get_data(as_text=True))
    data = client.get("/teacher/course/2/matrix.json")
    assert data.get_json()["course"]["name"] == HOSTILE_COURSE  # JSON carries the exact text
    assert data.mimetype == "application/json"


def test_learner_and_verification_pages_escape_names(env: Env) -> None:
    client = env.learner(env.world.learner_hostile)
    html = client.get("/learner/").get_data(as_text=True)
    _assert_inert(html)
    uuid = client.get("/learner/records.json").get_json()["awards"]
    uuid = next(c["uuid"] for a in uuid for c in a["credentials"])
    _assert_inert(env.client().get(f"/credentials/{uuid}").get_data(as_text=True))
    certificate = env.client().get(f"/credentials/{uuid}/certificate")
    assert certificate.status_code == 200
    _assert_inert(certificate.get_data(as_text=True))


def test_mapping_text_with_markup_is_shown_as_text(env: Env) -> None:
    client = env.admin()
    token = csrf_token(client, "/admin/mappings/edit")
    hostile = 'school: "</textarea><script>window.__xss=3</script>"\nunits: [\n'
    html = client.post("/admin/mappings/edit", data={"csrf_token": token, "filename": '"><script>x</script>.yaml',
                                                     "content": hostile, "action": "check"}).get_data(as_text=True)
    assert "<script>window.__xss=3" not in html and "</textarea><script>" not in html
    assert "&lt;/textarea&gt;&lt;script&gt;window.__xss=3" in html
    assert '"><script>x</script>' not in html


def test_pages_send_a_strict_content_security_policy(env: Env) -> None:
    response = env.teacher().get("/teacher/course/2")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'self'" in policy
    assert "X-Frame-Options" not in response.headers
