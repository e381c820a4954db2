"""The learner's page: own units and credentials, downloads and the share link."""

from __future__ import annotations

from credbridge.lti.sessions import SESSION_COOKIE
from tests.pages.conftest import Env


def test_learner_page_lists_credentials_with_downloads_and_share_link(env: Env) -> None:
    client = env.learner(env.world.learner_full)
    html = client.get("/learner/").get_data(as_text=True)
    assert "Petra Novak" in html
    assert html.count('download>') >= 3 and ".elm.json" in html and ".jwt" in html  # VC-JWT, JSON-LD, ELM
    assert 'class="share"' in html and "http://localhost/credentials/" in html
    records = client.get("/learner/records.json").get_json()
    issued = [a for a in records["awards"] if a["status"] == "issued"]
    assert issued and all(c["url"].startswith("http://localhost/credentials/") for c in issued[0]["credentials"])
    download = client.get(issued[0]["credentials"][0]["url"].removeprefix("http://localhost") + ".jwt")
    assert download.status_code == 200


def test_learner_without_credentials_sees_an_explanation(env: Env) -> None:
    html = env.learner(env.world.learner_plain).get("/learner/").get_data(as_text=True)
    assert "You have no credentials yet" in html


def test_session_without_learner_record_is_told_why(env: Env) -> None:
    client = env.client()
    env.session_for(client, roles=["learner"], context_id="2")
    response = client.get("/learner/")
    assert response.status_code == 403


def test_learner_sees_progress_with_what_is_missing(env: Env) -> None:
    html = env.learner(env.world.learner_plain).get("/learner/").get_data(as_text=True)
    assert 'data-code="CNC-PROG" data-state="in_progress"' in html
    assert "My progress in" in html
    assert "Marko Horvat" in html and "O&#39;Brien" not in html  # the course's other learners stay hidden


def test_share_links_use_the_public_address_not_the_requests_host(env: Env) -> None:
    # behind a reverse proxy the request may name an internal host; the link is the one in the credential
    client = env.learner(env.world.learner_full)
    internal = "http://credbridge-internal:8000"
    cookie = client.get_cookie(SESSION_COOKIE, domain="localhost")
    assert cookie is not None
    client.set_cookie(SESSION_COOKIE, cookie.value, domain="credbridge-internal")
    page = client.get("/learner/", base_url=internal)
    records = client.get("/learner/records.json", base_url=internal)
    assert page.status_code == records.status_code == 200
    html = page.get_data(as_text=True)
    urls = [c["url"] for a in records.get_json()["awards"] for c in a["credentials"]]
    assert urls and all(u.startswith("http://localhost/credentials/") for u in urls)
    assert "credbridge-internal" not in html and "http://localhost/credentials/" in html
    certificate = client.get(urls[0].removeprefix("http://localhost") + "/certificate", base_url=internal)
    assert certificate.status_code == 200 and "credbridge-internal" not in certificate.get_data(as_text=True)
