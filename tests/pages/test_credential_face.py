"""Every page that shows a credential shows its face (the image in the issued documents) and names
its issuer exactly as the credential does — not by the school's name in the store, which the school
may have written differently (here "Tehnička škola Alpha" while its mapping file says "Strukovna
škola strojarstva" for a Croatian credential)."""

from __future__ import annotations

import html as htmllib
import json
import re

from sqlalchemy import select

from credbridge.connector.issuing.formats.vc_jwt import decode_unverified
from credbridge.connector.store.models import Credential, School
from tests.pages.conftest import Env

FACE = re.compile(r'<figure class="credential-face"><img src="(data:image/[^"]+)" alt="([^"]*)"[^>]*>'
                  r'<figcaption class="credential-issuer">([^<]*)</figcaption></figure>')


def _issued(env: Env) -> dict[str, Credential]:
    with env.db.unit_of_work() as s:
        rows = {c.format: c for c in s.scalars(select(Credential).where(Credential.award_id == env.world.award_full))}
        s.expunge_all()
    return rows


def _card(page: str) -> str:
    """The page without its header (whose school name is the account's, not the credential's)."""
    return page.split("<main", 1)[1]


def _faces(page: str) -> list[tuple[str, str, str]]:
    return [tuple(htmllib.unescape(part) for part in m.groups()) for m in FACE.finditer(page)]


def test_the_issued_documents_carry_one_face_and_one_issuer_name(env: Env) -> None:
    rows = _issued(env)
    data_integrity = json.loads(rows["ob3-di"].document)
    jwt = decode_unverified(rows["ob3-jwt"].document)
    elm = json.loads(rows["elm"].document)
    image = data_integrity["credentialSubject"]["achievement"]["image"]
    assert image["type"] == "Image" and image["id"].startswith("data:image/svg+xml;base64,")
    assert jwt["credentialSubject"]["achievement"]["image"] == image
    shown = elm["displayParameter"]["individualDisplay"][0]["displayDetail"][0]["image"]
    assert image["id"].endswith(shown["content"]) and shown["contentType"]["id"].endswith("/file-type/SVG")
    assert data_integrity["issuer"]["name"] == jwt["issuer"]["name"] == "Strukovna škola strojarstva"


def test_the_verification_page_and_certificate_show_the_face_and_the_issuer_the_credential_names(env: Env) -> None:
    rows = _issued(env)
    document = json.loads(rows["ob3-di"].document)
    issuer = document["issuer"]["name"]
    with env.db.unit_of_work() as s:
        store_name = s.get(School, env.world.school_a).legal_name
    assert store_name != issuer  # the school wrote its name differently in the store
    client = env.client()
    for credential in rows.values():
        page = client.get(f"/credentials/{credential.uuid}").get_data(as_text=True)
        assert _faces(page) == [(document["credentialSubject"]["achievement"]["image"]["id"],
                                 document["credentialSubject"]["achievement"]["name"], issuer)], credential.format
        assert re.search(r'<dd id="awarding-body">\s*' + re.escape(issuer) + r"\s*</dd>", page), credential.format
        certificate = client.get(f"/credentials/{credential.uuid}/certificate").get_data(as_text=True)
        assert _faces(certificate)[0][0] == document["credentialSubject"]["achievement"]["image"]["id"]
        assert re.search(r'<p class="certificate-issuer">\s*' + re.escape(issuer) + r"\s*</p>", certificate)
        # (the page header and title name the school account, which is not a claim of the credential)
        assert store_name not in _card(page) and store_name not in _card(certificate)


def test_the_preview_names_the_issuer_as_the_document_it_shows(env: Env) -> None:
    client = env.teacher()
    url = f"/teacher/course/2/awards/{env.world.award_pending}/preview"
    document = client.get(f"{url}?format=json").get_json()
    page = client.get(url).get_data(as_text=True)
    faces = _faces(page)
    assert faces == [(document["credentialSubject"]["achievement"]["image"]["id"],
                      document["credentialSubject"]["achievement"]["name"], document["issuer"]["name"])]
    with env.db.unit_of_work() as s:
        assert s.get(School, env.world.school_a).legal_name not in _card(page)


def test_the_learner_sees_the_face_of_each_credential(env: Env) -> None:
    rows = _issued(env)
    image = json.loads(rows["ob3-di"].document)["credentialSubject"]["achievement"]["image"]["id"]
    client = env.learner(env.world.learner_full)
    home = client.get("/learner/").get_data(as_text=True)
    assert image in [face[0] for face in _faces(home)]
    with env.db.unit_of_work() as s:
        award_id = s.scalars(select(Credential.award_id).where(Credential.uuid == rows["ob3-di"].uuid)).one()
    detail = client.get(f"/learner/awards/{award_id}").get_data(as_text=True)
    assert [face[0] for face in _faces(detail)] == [image]
