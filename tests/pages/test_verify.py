"""The public verification page: content negotiation, downloads, signature and status checks,
revocation with its reason, did:web and status lists."""

from __future__ import annotations

import json
import re

import segno
from sqlalchemy import select

from credbridge.connector.awards import actions
from credbridge.connector.issuing.formats.verify import verify_jwt
from credbridge.connector.store.models import Award, Credential, Learner
from tests.pages.conftest import Env


def _credentials(env: Env) -> dict[str, str]:
    with env.db.unit_of_work() as s:
        return {c.format: c.uuid for c in s.scalars(select(Credential).where(
            Credential.award_id == env.world.award_full))}


def test_valid_credential_for_people_and_machines(env: Env) -> None:
    uuids = _credentials(env)
    client = env.client()
    page = client.get(f"/credentials/{uuids['ob3-jwt']}", headers={"Accept": "text/html"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-verdict="valid"' in html
    assert "Ed25519 signature verifies" in html and "not revoked" in html
    assert "Learning outcomes" in html
    machine = client.get(f"/credentials/{uuids['ob3-jwt']}", headers={"Accept": "application/json"})
    assert machine.mimetype == "application/json"
    assert "AchievementCredential" in machine.get_json()["type"]
    assert "Accept" in page.headers["Vary"]
    linked_data = client.get(f"/credentials/{uuids['ob3-jwt']}", headers={"Accept": "application/ld+json"})
    assert linked_data.mimetype == "application/ld+json" and linked_data.get_json()["credentialSubject"]
    jwt_form = client.get(f"/credentials/{uuids['ob3-di']}", headers={"Accept": "application/vc+jwt"})
    assert jwt_form.mimetype == "application/vc+jwt" and jwt_form.get_data(as_text=True).count(".") == 2
    assert client.get(f"/credentials/{uuids['ob3-jwt']}", headers={"Accept": "*/*"}).mimetype == "text/html"


def test_downloads_in_each_format(env: Env) -> None:
    uuids = _credentials(env)
    client = env.client()
    jwt_response = client.get(f"/credentials/{uuids['ob3-jwt']}.jwt")
    assert jwt_response.mimetype == "application/vc+jwt" and jwt_response.get_data(as_text=True).count(".") == 2
    assert "attachment" in jwt_response.headers["Content-Disposition"]
    di = json.loads(client.get(f"/credentials/{uuids['ob3-jwt']}.json").get_data(as_text=True))
    assert di["proof"]
    elm = json.loads(client.get(f"/credentials/{uuids['ob3-jwt']}.elm.json").get_data(as_text=True))
    assert elm
    assert client.get(f"/credentials/{uuids['ob3-jwt']}.exe").status_code == 404


def test_did_document_and_status_list_let_an_outside_verifier_check(env: Env) -> None:
    uuids = _credentials(env)
    client = env.client()
    token = client.get(f"/credentials/{uuids['ob3-jwt']}.jwt").get_data(as_text=True)
    did_doc = client.get("/schools/alpha/did.json").get_json()
    assert did_doc["id"] == "did:web:localhost:schools:alpha"

    def status(url: str) -> str:
        path = url.removeprefix("http://localhost")
        return client.get(path).get_data(as_text=True)

    result = verify_jwt(token, lambda did: did_doc, status)
    assert result.ok, [c.message for c in result.checks]
    assert client.get("/schools/nope/did.json").status_code == 404
    assert client.get("/schools/beta/status/1").status_code == 404  # list 1 belongs to alpha


def test_revoked_credential_says_so_with_the_public_reason_and_date_and_no_downloads(env: Env) -> None:
    with env.db.unit_of_work() as s:
        actions.revoke(s, env.world.school_a, env.world.award_full, reason="assessment annulled <b>",
                       public_reason="assessment_changed", actor="teacher@alpha")
    uuids = _credentials(env)
    client = env.client()
    html = client.get(f"/credentials/{uuids['ob3-di']}", headers={"Accept-Language": "hr"}).get_data(as_text=True)
    assert 'data-verdict="revoked"' in html
    assert "Razlog: Promijenio se rezultat vrednovanja na kojem se temelji" in html  # the public reason, translated
    assert "assessment annulled" not in html  # the revoker's note stays private
    with env.db.unit_of_work() as s:
        revoked_at = s.scalars(select(Credential.revoked_at).where(Credential.uuid == uuids["ob3-di"])).one()
    assert f"{revoked_at.day}. " in re.search(r'id="revoked-on">([^<]*)<', html).group(1)
    assert 'id="no-downloads"' in html and ".jwt\"" not in html and ".elm.json" not in html
    assert "the issuer has revoked this credential" in html  # the status list check (in the technical details)
    for ext in ("jwt", "json", "elm.json"):  # the files themselves are no longer handed out
        assert client.get(f"/credentials/{uuids['ob3-jwt']}.{ext}").status_code == 410


def test_a_revocation_without_a_public_reason_publishes_none_of_its_text(env: Env) -> None:
    with env.db.unit_of_work() as s:  # e.g. revoked from the command line before reasons had codes
        actions.revoke(s, env.world.school_a, env.world.award_full, reason="assessment annulled <b>",
                       actor="admin:test")
    html = env.client().get(f"/credentials/{_credentials(env)['ob3-jwt']}").get_data(as_text=True)
    assert 'data-verdict="revoked"' in html and 'id="revoked-on"' in html
    assert "annulled" not in html and 'id="revocation-reason"' not in html


def test_verification_page_in_the_learner_language(env: Env) -> None:
    uuids = _credentials(env)
    html = env.client().get(f"/credentials/{uuids['ob3-jwt']}", headers={"Accept-Language": "hr"}).get_data(
        as_text=True)
    assert "Provjera" in html  # page chrome in Croatian
    assert "Čitanje tehničkih crteža" in html or "tehničk" in html  # Annex values in the learner's language


def test_certificate_names_the_learner_and_leads_back_to_the_live_check(env: Env) -> None:
    uuids = _credentials(env)
    client = env.client()
    page = client.get(f"/credentials/{uuids['ob3-jwt']}/certificate")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="certificate"' in html
    with env.db.unit_of_work() as s:
        award = s.get(Award, env.world.award_full)
        learner = s.get(Learner, award.learner_id)
        title, name = award.snapshot["title"]["en"], learner.full_name
    assert f'<p class="certificate-learner" id="learner">{name}</p>' in html and title in html
    url = f"http://localhost/credentials/{uuids['ob3-jwt']}"
    assert f'id="verification-url">{url}</a>' in html and "data-print" in html
    # the QR code is segno's encoding of exactly that address (segno is deterministic, so the same
    # call on the same address gives the same modules; a QR decoder is not needed to check the URL)
    assert segno.make(url, error="m").svg_inline(omitsize=True, title="QR code of the verification page") in html
    assert "REVOKED" not in html
    # every format's page links to it; the learner's page does too
    verify = client.get(f"/credentials/{uuids['ob3-di']}").get_data(as_text=True)
    assert f'/credentials/{uuids["ob3-di"]}/certificate' in verify
    with env.db.unit_of_work() as s:
        learner_id = s.get(Award, env.world.award_full).learner_id
    own = env.learner(learner_id).get("/learner/").get_data(as_text=True)
    assert 'certificate-link"' in own and "/certificate" in own and 'target="_blank"' in own


def test_certificate_of_a_revoked_credential_is_stamped_revoked(env: Env) -> None:
    with env.db.unit_of_work() as s:
        actions.revoke(s, env.world.school_a, env.world.award_full, reason="assessment annulled <b>",
                       public_reason="wrong_learner", actor="admin:test")
    uuid = _credentials(env)["ob3-jwt"]
    html = env.client().get(f"/credentials/{uuid}/certificate").get_data(as_text=True)
    assert 'data-verdict="revoked"' in html and "Issued to the wrong person" in html
    assert "annulled" not in html


def test_certificate_of_a_credential_that_fails_its_check_is_stamped(env: Env) -> None:
    uuid = _credentials(env)["ob3-jwt"]
    with env.db.unit_of_work() as s:
        row = s.scalars(select(Credential).where(Credential.uuid == uuid)).one()
        header, payload, signature = row.document.split(".")
        row.document = f"{header}.{payload}.{signature[::-1]}"  # a forged signature
    html = env.client().get(f"/credentials/{uuid}/certificate").get_data(as_text=True)
    assert 'data-verdict="invalid"' in html and "NOT VALID" in html


def test_certificate_of_an_unknown_credential_is_not_found(env: Env) -> None:
    client = env.client()
    assert client.get("/credentials/00000000-0000-4000-8000-000000000000/certificate").status_code == 404
    assert client.get("/credentials/not-a-uuid/certificate").status_code == 404


def test_certificate_in_the_readers_language(env: Env) -> None:
    uuid = _credentials(env)["ob3-jwt"]
    html = env.client().get(f"/credentials/{uuid}/certificate", headers={"Accept-Language": "sl"}).get_data(
        as_text=True)
    assert "Natisni ali shrani kot PDF" in html and "Mikrodokazilo" in html and '<html lang="sl">' in html
