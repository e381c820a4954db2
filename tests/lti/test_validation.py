"""id_token validation against the recorded real Moodle 4.5 tokens, and every check failing alone."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from credbridge.lti.launch import claims as c
from credbridge.lti.launch.errors import LaunchError
from credbridge.lti.launch.platform_keys import PlatformKeySet, StaticKeySet
from credbridge.lti.launch.validation import validate_id_token
from tests.lti.support import serve
from tests.lti.tokens import (
    EXPECTED,
    MOODLE_JWKS,
    TEST_KID,
    b64,
    mutated,
    platform_jwks,
    platform_keys,
    platform_public_pem,
    recorded,
    sign,
    unsigned,
)


class Nonces:
    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, nonce: str, exp: int) -> bool:
        if nonce in self.used:
            return False
        self.used.add(nonce)
        return True


def run(token: str, payload: dict[str, Any], *, keys: Any = None, now: float | None = None, leeway: int = 60,
        nonces: Nonces | None = None, nonce: str | None = None) -> dict[str, Any]:
    return validate_id_token(token, platform=EXPECTED, keys=keys or platform_keys(),
                             expected_nonce=nonce if nonce is not None else payload.get("nonce", ""),
                             now=now if now is not None else payload.get("iat", 0), leeway=leeway,
                             use_nonce=nonces or Nonces())


def failed_check(token: str, payload: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(LaunchError) as info:
        run(token, payload, **kwargs)
    return info.value.check


@pytest.mark.parametrize("name", ["instructor", "learner", "learner2", "deep_linking"])
def test_recorded_moodle_tokens_validate(name: str) -> None:
    token, payload = recorded(name)
    claims = run(token, payload, keys=StaticKeySet(MOODLE_JWKS))
    assert claims["sub"] == payload["sub"]
    assert claims[c.MESSAGE_TYPE] in c.MESSAGE_TYPES


def test_resigned_recorded_claims_validate_with_the_test_key() -> None:
    claims = mutated("instructor")
    assert run(sign(claims), claims)["iss"] == EXPECTED.issuer


def test_bad_signature() -> None:
    token, payload = recorded("instructor")
    header, _body, signature = token.split(".")
    tampered = json.loads(json.dumps(payload))
    tampered["sub"] = "2"  # an attacker becoming the admin
    forged = f"{header}.{b64(json.dumps(tampered).encode())}.{signature}"
    assert failed_check(forged, payload, keys=StaticKeySet(MOODLE_JWKS)) == "signature"


def test_signed_by_another_key_with_moodles_kid() -> None:
    _, payload = recorded("instructor")
    kid = MOODLE_JWKS["keys"][0]["kid"]
    assert failed_check(sign(payload, kid=kid), payload, keys=StaticKeySet(MOODLE_JWKS)) == "signature"


def test_wrong_kid() -> None:
    claims = mutated("instructor")
    assert failed_check(sign(claims, kid="not-the-platform-key"), claims) == "kid"


def test_missing_kid() -> None:
    claims = mutated("instructor")
    assert failed_check(sign(claims, kid=None), claims) == "kid"


def test_alg_none() -> None:
    claims = mutated("instructor")
    token = unsigned(claims, {"alg": "none", "kid": TEST_KID, "typ": "JWT"})
    assert failed_check(token, claims) == "alg"


def test_hs256_signed_with_the_public_key_is_refused() -> None:
    claims = mutated("instructor")
    header = b64(json.dumps({"alg": "HS256", "kid": TEST_KID, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    mac = hmac.new(platform_public_pem(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    assert failed_check(f"{header}.{body}.{b64(mac)}", claims) == "alg"


def test_rs256_header_on_an_hmac_signature_fails_the_signature() -> None:
    claims = mutated("instructor")
    header = b64(json.dumps({"alg": "RS256", "kid": TEST_KID}).encode())
    body = b64(json.dumps(claims).encode())
    mac = hmac.new(platform_public_pem(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    assert failed_check(f"{header}.{body}.{b64(mac)}", claims) == "signature"


@pytest.mark.parametrize(("changes", "check"), [
    ({"iss": "http://127.0.0.1:8081"}, "iss"),
    ({"iss": None}, "iss"),
    ({"aud": "another-client"}, "aud"),
    ({"aud": None}, "aud"),
    ({"aud": ["another-client", "yet-another"]}, "aud"),
    ({"aud": ["63f37xS9yJfBaXO", "another-client"]}, "azp"),
    ({"aud": ["63f37xS9yJfBaXO", "another-client"], "azp": "another-client"}, "azp"),
    ({"azp": "another-client"}, "azp"),
    ({"exp": None}, "exp"),
    ({"iat": None}, "iat"),
    ({c.DEPLOYMENT_ID.replace("/", "__"): "99"}, "deployment_id"),
    ({c.DEPLOYMENT_ID.replace("/", "__"): None}, "deployment_id"),
    ({c.VERSION.replace("/", "__"): "1.1"}, "version"),
    ({c.VERSION.replace("/", "__"): None}, "version"),
    ({c.MESSAGE_TYPE.replace("/", "__"): "LtiSubmissionReviewRequest"}, "message_type"),
    ({c.MESSAGE_TYPE.replace("/", "__"): None}, "message_type"),
    ({c.RESOURCE_LINK.replace("/", "__"): {"title": "no id"}}, "resource_link"),
    ({c.RESOURCE_LINK.replace("/", "__"): None}, "resource_link"),
    ({c.ROLES.replace("/", "__"): None}, "roles"),
    ({c.TARGET_LINK_URI.replace("/", "__"): None}, "target_link_uri"),
    ({c.CONTEXT.replace("/", "__"): {"label": "no id"}}, "context"),
    ({"sub": ""}, "sub"),
    ({"nonce": None}, "nonce"),
])
def test_each_mutation_fails_with_its_reason(changes: dict[str, Any], check: str) -> None:
    original = mutated("instructor")
    claims = mutated("instructor", **changes)
    assert failed_check(sign(claims), claims, nonce=original["nonce"]) == check


def test_several_audiences_with_matching_azp_pass() -> None:
    claims = mutated("instructor", aud=["63f37xS9yJfBaXO", "other"], azp="63f37xS9yJfBaXO")
    assert run(sign(claims), claims)["azp"] == "63f37xS9yJfBaXO"


def test_expired_beyond_leeway() -> None:
    claims = mutated("instructor")
    assert failed_check(sign(claims), claims, now=claims["exp"] + 61, leeway=60) == "exp"
    assert run(sign(claims), claims, now=claims["exp"] + 59, leeway=60)  # within leeway


def test_iat_in_the_future() -> None:
    claims = mutated("instructor")
    assert failed_check(sign(claims), claims, now=claims["iat"] - 31, leeway=30) == "iat"
    assert run(sign(claims), claims, now=claims["iat"] - 29, leeway=30)


def test_nonce_must_match_the_login() -> None:
    claims = mutated("instructor")
    assert failed_check(sign(claims), claims, nonce="another-nonce") == "nonce"


def test_replayed_nonce() -> None:
    claims = mutated("instructor")
    nonces = Nonces()
    token = sign(claims)
    run(token, claims, nonces=nonces)
    assert failed_check(token, claims, nonces=nonces) == "nonce_replayed"


def test_failed_token_does_not_burn_the_nonce() -> None:
    nonces = Nonces()
    bad = mutated("instructor", iss="http://evil.example")
    failed_check(sign(bad), bad, nonces=nonces)
    assert nonces.used == set()


@pytest.mark.parametrize("missing", ["deep_link_return_url", "accept_types", "accept_presentation_document_targets"])
def test_deep_linking_settings_required(missing: str) -> None:
    claims = mutated("deep_linking")
    del claims[c.DL_SETTINGS][missing]
    assert failed_check(sign(claims), claims) == "deep_linking_settings"


def test_deep_linking_without_settings() -> None:
    claims = mutated("deep_linking")
    del claims[c.DL_SETTINGS]
    assert failed_check(sign(claims), claims) == "deep_linking_settings"


def test_garbage_token() -> None:
    assert failed_check("not-a-jwt", {}) == "id_token"


def test_unknown_kid_refetches_once_then_cools_down() -> None:
    from flask import Flask, jsonify

    app = Flask(__name__)
    served = {"jwks": {"keys": []}}
    app.add_url_rule("/certs", "certs", lambda: jsonify(served["jwks"]))
    now = [1000.0]
    with serve(app) as url:
        keys = PlatformKeySet(url + "/certs", clock=lambda: now[0])
        claims = mutated("instructor")
        # the platform rotated after our first fetch: the refetch on the unknown kid finds the new key
        with pytest.raises(LaunchError) as info:
            keys.key_for(TEST_KID)
        assert info.value.check == "kid" and keys.fetches == 1
        now[0] += 31
        served["jwks"] = platform_jwks()
        assert run(sign(claims), claims, keys=keys)
        assert keys.fetches == 2
        # an unknown kid right after a fetch does not hammer the platform (cool-down)
        with pytest.raises(LaunchError) as info:
            keys.key_for("still-unknown")
        assert info.value.check == "kid" and keys.fetches == 2
        now[0] += 31
        with pytest.raises(LaunchError):
            keys.key_for("still-unknown")
        assert keys.fetches == 3  # one refetch after the cool-down, then the unknown kid fails
