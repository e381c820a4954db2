"""Every kind of document credbridge emits, checked by implementations credbridge did not write.

OB 3.0 with Data Integrity: @digitalbazaar/vc + data-integrity + eddsa-rdfc-2022 (jsonld.js safe mode),
status through @digitalbazaar/vc-bitstring-status-list, the 1EdTech JSON Schema through ajv. OB 3.0 as
VC-JWT: jose, the same schema, safe-mode expansion of the credential, status. DID documents, status
list credentials and ELM documents: safe-mode expansion. Tampered copies must fail there too.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import base58
import pytest
from pyld import jsonld

from credbridge.connector.issuing.formats import (
    build_elm,
    build_ob3,
    build_status_list_credential,
    sign_data_integrity,
    sign_vc_jwt,
)
from credbridge.connector.issuing.formats import content as fc
from credbridge.connector.issuing.formats.canonical_nquads import canonize
from credbridge.connector.issuing.formats.data_integrity import proof_configuration, split_proof
from credbridge.connector.issuing.formats.did import NamedKey, did_key, did_key_document, did_web_document
from credbridge.connector.issuing.formats.jsonld_offline import OB_V3, VC_V2, canonize_reference, document_loader
from credbridge.connector.issuing.formats.keys import generate_ed25519
from credbridge.connector.issuing.formats.status_list import StatusList
from tests.independent.conftest import Verifier, failures
from tests.issuing.formats.conftest import DID, KID, LIST_URL, STANDARDS, make_content

NOW = "2026-07-01T00:00:00Z"
ISSUER_KEY = generate_ed25519()
OTHER_KEY = generate_ed25519()
DID_DOCUMENT = did_web_document(DID, [NamedKey("key-2026-11", ISSUER_KEY.public_key())])
REVOKED_INDEX = 9


def _contents() -> dict[str, fc.CredentialContent]:
    partner = fc.Issuer(legal_name={"sl": "Srednja strojna šola Ljubljana", "en": "Secondary School Ljubljana"},
                        country="SI", homepage="https://strojna-ljubljana.example",
                        did="urn:credbridge:organisation:SI:1f0e", identifiers=(fc.OrgIdentifier("VAT", "SI12345678"),))
    return {
        "full": make_content(),
        "minimal": make_content(stackability=fc.Stackability(), grade=None, valid_until=None, nqf_level=None,
                                supervision=None, prerequisites=None, units=(), further_info_url=None,
                                credit_points=()),
        "partner": make_content(awarding_body=partner, languages=("sl", "en"),
                                title={"sl": "Varnost pri varjenju", "en": "Welding safety"}),
        "percent grade, two parents": make_content(
            grade=fc.Grade("84.5", "Percentage", result_type="Percent"),
            stackability=fc.Stackability("A", {"en": "A"}, more=(fc.Stackability("B", {"en": "B"}),))),
        "revoked": make_content(status=fc.StatusEntry(LIST_URL, REVOKED_INDEX),
                                credential_id="urn:uuid:0b7e6a4c-3f8e-4f3a-9c1e-2d5b8a7f6e11"),
        "awkward text": make_content(
            title={"hr": 'Navodnici "x", kosa crta \\ i\tnovi\nred', "en": "Ünïcödé — ✓ 🎓 \u2028 end"},
            description={"hr": "Ruđer: čćžšđ ČĆŽŠĐ", "en": "a\rb"}),
    }


def _status_list() -> StatusList:
    bits = StatusList()
    bits.set(REVOKED_INDEX)
    return bits


def _status_list_jwt() -> str:
    credential = build_status_list_credential(LIST_URL, DID, _status_list(), datetime(2026, 6, 1, tzinfo=UTC))
    return sign_vc_jwt(credential, ISSUER_KEY, KID)


RESOURCES = {DID: DID_DOCUMENT, LIST_URL: _status_list_jwt()}


def _documents() -> list[dict[str, Any]]:
    items = []
    for name, content in _contents().items():
        credential = build_ob3(content)
        items.append({"name": f"di {name}", "format": "ob3-di",
                      "document": sign_data_integrity(credential, ISSUER_KEY, KID, created=content.issued_at)})
        items.append({"name": f"jwt {name}", "format": "ob3-jwt",
                      "document": sign_vc_jwt(credential, ISSUER_KEY, KID)})
        items.append({"name": f"elm {name}", "format": "jsonld", "document": build_elm(content)})
    return items


def test_every_document_credbridge_signs_is_accepted(independent: Verifier) -> None:
    items = [
        *_documents(),
        {"name": "did:web document", "format": "jsonld", "document": DID_DOCUMENT},
        {"name": "did:key document", "format": "jsonld",
         "document": did_key_document(did_key(ISSUER_KEY.public_key()))},
        {"name": "status list (VC-JWT)", "format": "status-list", "document": LIST_URL},
    ]
    results = independent(items, resources=RESOURCES, now=NOW)
    for name, result in results.items():
        if name.endswith(" revoked") and not name.startswith("elm"):
            assert failures(result).keys() == {"status"}, failures(result)
            assert "revoked" in failures(result)["status"]
        else:
            assert result["verified"], (name, failures(result))


def test_a_data_integrity_status_list_is_accepted_and_read(independent: Verifier) -> None:
    list_url = LIST_URL.replace("/1", "/2")
    credential = build_status_list_credential(list_url, DID, _status_list(), datetime(2026, 6, 1, tzinfo=UTC))
    signed_list = sign_data_integrity(credential, ISSUER_KEY, KID)
    live = make_content(status=fc.StatusEntry(list_url, 3))
    revoked = make_content(status=fc.StatusEntry(list_url, REVOKED_INDEX))
    results = independent([
        {"name": "list", "format": "status-list", "document": list_url},
        {"name": "live", "format": "ob3-di", "document": sign_data_integrity(build_ob3(live), ISSUER_KEY, KID)},
        {"name": "revoked", "format": "ob3-di", "document": sign_data_integrity(build_ob3(revoked), ISSUER_KEY, KID)},
    ], resources={DID: DID_DOCUMENT, list_url: signed_list}, now=NOW)
    assert results["list"]["verified"] and results["live"]["verified"], failures(results["live"])
    assert failures(results["revoked"]).keys() == {"status"}


def _signed(content: fc.CredentialContent | None = None) -> dict[str, Any]:
    return sign_data_integrity(build_ob3(content or make_content()), ISSUER_KEY, KID)


def _tampered_data_integrity() -> dict[str, tuple[dict[str, Any], set[str]]]:
    """name -> (document, the checks that must fail)."""
    out: dict[str, tuple[dict[str, Any], set[str]]] = {}
    doc = _signed()
    renamed = copy.deepcopy(doc)
    renamed["credentialSubject"]["achievement"]["name"] = "Something else"
    out["achievement renamed"] = (renamed, {"data-integrity"})
    other_issuer = copy.deepcopy(doc)
    other_issuer["issuer"]["name"] = "Another school"
    out["issuer renamed"] = (other_issuer, {"data-integrity"})
    extra = copy.deepcopy(doc)
    extra["credentialSubject"]["favouriteColour"] = "blue"  # a term no context defines
    out["undefined term added"] = (extra, {"jsonld-safe", "data-integrity"})
    broken = copy.deepcopy(doc)
    del broken["credentialSubject"]["achievement"]["criteria"]
    out["criteria removed"] = (broken, {"ob3-schema", "data-integrity"})
    flipped = copy.deepcopy(doc)
    value = flipped["proof"][0]["proofValue"]
    flipped["proof"][0]["proofValue"] = value[:-2] + ("1" if value[-2] != "1" else "2") + value[-1]
    out["proof value changed"] = (flipped, {"data-integrity"})
    foreign = sign_data_integrity(build_ob3(make_content()), OTHER_KEY, KID)
    out["signed by a key the DID does not list"] = (foreign, {"data-integrity"})
    return out


def test_tampered_data_integrity_credentials_are_rejected(independent: Verifier) -> None:
    cases = _tampered_data_integrity()
    results = independent([{"name": n, "format": "ob3-di", "document": d} for n, (d, _) in cases.items()],
                          resources=RESOURCES, now=NOW)
    for name, (_, must_fail) in cases.items():
        assert not results[name]["verified"], name
        assert must_fail <= failures(results[name]).keys(), (name, failures(results[name]))


def _jwt_parts(token: str) -> list[str]:
    return token.split(".")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_tampered_vc_jwts_are_rejected(independent: Verifier) -> None:
    credential = build_ob3(make_content())
    token = sign_vc_jwt(credential, ISSUER_KEY, KID)
    header, payload, signature = _jwt_parts(token)
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["credentialSubject"]["achievement"]["name"] = "Something else"
    altered = f"{header}.{_b64(claims)}.{signature}"
    foreign = sign_vc_jwt(credential, OTHER_KEY, KID)
    with_jwk = f"{_b64({'alg': 'EdDSA', 'kid': KID, 'typ': 'JWT', 'jwk': {'kty': 'OKP'}})}.{payload}.{signature}"
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': KID})}.{payload}."
    results = independent([
        {"name": "payload altered", "format": "ob3-jwt", "document": altered},
        {"name": "foreign key", "format": "ob3-jwt", "document": foreign},
        {"name": "extra header", "format": "ob3-jwt", "document": with_jwk},
        {"name": "alg none", "format": "ob3-jwt", "document": unsigned},
    ], resources=RESOURCES, now=NOW)
    for name, result in results.items():
        assert "jwt" in failures(result), (name, failures(result))


def _sign_without_safe_mode(credential: dict[str, Any]) -> dict[str, Any]:
    """What credbridge did before safe mode: pyld's default processing, which resolves an undefined
    type against a made-up base instead of refusing it."""
    config = proof_configuration(KID, datetime(2026, 6, 30, tzinfo=UTC))

    def digest(document: dict[str, Any]) -> bytes:
        nquads = jsonld.normalize(document, {"documentLoader": document_loader, "algorithm": "URDNA2015",
                                             "format": "application/n-quads"})
        return hashlib.sha256(nquads.encode()).digest()

    signature = ISSUER_KEY.sign(digest({**config, "@context": credential["@context"]}) + digest(credential))
    return {**credential, "proof": [{**config, "proofValue": "z" + base58.b58encode(signature).decode()}]}


def test_the_old_context_list_is_what_safe_mode_rejects(independent: Verifier) -> None:
    # the credentialSchema type 1EdTechJsonSchemaValidator2019 is defined only by the extensions context
    old = {**build_ob3(make_content()), "@context": [VC_V2, OB_V3]}
    result = independent([{"name": "old", "format": "ob3-di", "document": _sign_without_safe_mode(old)}],
                         resources=RESOURCES, now=NOW)["old"]
    assert "relative @type reference" in failures(result)["jsonld-safe"]
    assert "1EdTechJsonSchemaValidator2019" in failures(result)["data-integrity"]


# --- canonical N-Quads: credbridge's fast path, pyld and rdf-canonize agree --------------------------------

VECTORS = ["1edtech-simple.json", "1edtech-complete.json", "1edtech-simple-eddsa-2022.json",
           "1edtech-simple-did-key-method.json"]
_AWKWARD = ('"', "\\", "\n", "\r", "\t", "\b", "\f", "\x00", "\x01", "\x1f", "\x7f", "\u00a0", "\u2028", "\ufeff",
            "é", "đ", "Ж", "中", "🎓", "e\u0301", "<", ">", "{", "}", "'", " ", "urn:", "_:b0")


def _random_text(rnd: random.Random) -> str:
    return "".join(rnd.choice(_AWKWARD + tuple("abcXYZ019 -.")) for _ in range(rnd.randint(1, 12)))


def _random_credentials(count: int) -> list[dict[str, Any]]:
    rnd = random.Random(20261122)
    out = []
    for i in range(count):
        content = make_content(
            credential_id=f"urn:uuid:0b7e6a4c-3f8e-4f3a-9c1e-{i:012x}",
            title={"hr": _random_text(rnd), "en": _random_text(rnd)},
            description={"en": _random_text(rnd)},
            learning_outcomes=tuple(fc.LearningOutcome({"en": _random_text(rnd)}) for _ in range(rnd.randint(1, 4))),
            hours=Decimal(rnd.randint(1, 500)),
            template_code=f"T-{i}", identity_salt=_random_text(rnd))
        if rnd.random() < 0.3:
            content = replace(content, grade=None, units=())
        out.append(build_ob3(content))
    return out


def _canonical_cases() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {}
    for name in VECTORS:
        vector, _ = split_proof(json.loads((STANDARDS / "ob3" / "testvectors" / name).read_text("utf-8")))
        cases[f"vector {name}"] = vector
    for name, content in _contents().items():
        credential = build_ob3(content)
        cases[f"ob3 {name}"] = credential
        cases[f"proof options {name}"] = {**proof_configuration(KID, content.issued_at),
                                          "@context": credential["@context"]}
        cases[f"elm {name}"] = build_elm(content)
    cases["did document"] = DID_DOCUMENT
    cases["status list"] = build_status_list_credential(LIST_URL, DID, _status_list(), datetime(2026, 6, 1, tzinfo=UTC))
    for i, credential in enumerate(_random_credentials(25)):
        cases[f"random {i}"] = credential
    return cases


# control characters canonical N-Quads escapes (\b \f as ECHAR, the rest as \uXXXX) and pyld 3.3 leaves raw
_PYLD_RAW = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [t for key, value in node.items() for t in [key, *_strings(value)]]
    if isinstance(node, list):
        return [t for value in node for t in _strings(value)]
    return []


def test_canonical_nquads_agree_across_three_implementations(independent: Verifier) -> None:
    cases = _canonical_cases()
    ours = {name: canonize(document) for name, document in cases.items()}
    results = independent([{"name": n, "format": "canonize", "document": d} for n, d in cases.items()])
    compared_with_pyld = 0
    for name, document in cases.items():
        assert results[name]["verified"], (name, failures(results[name]))
        assert ours[name] == results[name]["nquads"], f"{name}: credbridge differs from rdf-canonize"
        if not any(_PYLD_RAW.search(text) for text in _strings(document)):
            assert ours[name] == canonize_reference(document), f"{name}: credbridge's fast path differs from pyld"
            compared_with_pyld += 1
    assert compared_with_pyld >= len(cases) // 2


def test_control_characters_are_escaped_as_rdfc_says_where_pyld_does_not(independent: Verifier) -> None:
    documents = {f"U+{ord(ch):04X}": {"@context": {"p": "http://example.org/p"}, "@id": "http://example.org/s",
                                       "p": f"a{ch}b"} for ch in "\x00\x01\x08\x0b\x0c\x1f\x7f"}
    results = independent([{"name": n, "format": "canonize", "document": d} for n, d in documents.items()])
    for name, document in documents.items():
        assert canonize(document) == results[name]["nquads"], name
        assert canonize_reference(document) != results[name]["nquads"], f"pyld now escapes {name}: use it again?"


@pytest.mark.parametrize("name", VECTORS)
def test_the_fast_path_and_pyld_agree_on_each_1edtech_vector(name: str) -> None:
    vector, _ = split_proof(json.loads((STANDARDS / "ob3" / "testvectors" / name).read_text("utf-8")))
    assert canonize(vector) == canonize_reference(vector)
