"""Verification of VC-JWT and Data Integrity credentials, as a list of human-readable checks.

The public verification page shows every :class:`Check`; a credential is valid when no check failed.
Nothing here touches the network: DID documents and status list credentials come from callables the
caller supplies (the web layer serves its own; tests pass dicts).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import jwt
from cryptography.exceptions import InvalidSignature

from credbridge.connector.issuing.formats.data_integrity import check_proof, split_proof
from credbridge.connector.issuing.formats.did import DidDocumentProvider, controller_of, resolve_public_key
from credbridge.connector.issuing.formats.errors import FormatError, SigningError
from credbridge.connector.issuing.formats.status_list import PURPOSES, StatusList
from credbridge.connector.issuing.formats.vc_jwt import ALGORITHM, REGISTERED_CLAIMS, issuer_id, jwt_claims

StatusListProvider = Callable[[str], "dict[str, Any] | str"]
"""Given a ``statusListCredential`` URL, return that credential (a VC-JWT string or a signed dict)."""

Outcome = Literal["passed", "failed", "skipped"]
ALLOWED_HEADER = {"alg", "kid", "typ"}
LEEWAY_SECONDS = 60  # clock skew between issuer and verifier machines


@dataclass(frozen=True)
class Check:
    code: str  # stable: structure, header, key, signature, claims, validity_period, status
    outcome: Outcome
    message: str

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


@dataclass
class VerificationResult:
    format: Literal["vc-jwt", "data-integrity"]
    checks: list[Check] = field(default_factory=list)
    credential: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return any(c.passed for c in self.checks) and not any(c.outcome == "failed" for c in self.checks)

    @property
    def summary(self) -> str:
        """One line for the top of the verification page."""
        if self.ok:
            return "Valid credential"
        failures = self.failures
        return "Not valid: " + (failures[0].message if failures else "nothing could be checked")

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.outcome == "failed"]

    def add(self, code: str, passed: bool, message: str) -> bool:
        self.checks.append(Check(code, "passed" if passed else "failed", message))
        return passed


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _b64json(segment: str) -> dict[str, Any]:
    value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _check_period(result: VerificationResult, credential: dict[str, Any], now: datetime) -> None:
    valid_from = _parse_time(credential.get("validFrom") or credential.get("issuanceDate"))
    until_raw = credential.get("validUntil") or credential.get("expirationDate")
    valid_until = _parse_time(until_raw)
    if valid_from is None:
        result.add("validity_period", False, "validFrom is missing or not an ISO 8601 date-time with a zone")
        return
    if until_raw is not None and valid_until is None:
        result.add("validity_period", False, "validUntil is not an ISO 8601 date-time with a zone")
        return
    skew = LEEWAY_SECONDS
    if (valid_from - now).total_seconds() > skew:
        result.add("validity_period", False, f"not valid before {valid_from.isoformat()}")
    elif valid_until is not None and (now - valid_until).total_seconds() > skew:
        result.add("validity_period", False, f"expired on {valid_until.isoformat()}")
    else:
        result.add("validity_period", True, "within its validity period")


def _check_issuer_controls_key(result: VerificationResult, issuer: str, method: str) -> bool:
    try:
        controller = controller_of(method)
    except FormatError as error:
        return result.add("key", False, error.message)
    if controller != issuer:
        return result.add("key", False, f"key {method!r} does not belong to the issuer {issuer!r}")
    return True


def _resolve(result: VerificationResult, method: str, provider: DidDocumentProvider | None) -> Any:
    try:
        key = resolve_public_key(method, provider)
    except FormatError as error:
        result.add("key", False, error.message)
        return None
    except Exception as error:  # a provider failing (e.g. HTTP) must show as a check, not crash the page
        result.add("key", False, f"DID document for {method!r} could not be obtained: {error}")
        return None
    result.add("key", True, f"signing key {method} belongs to the issuer")
    return key


def verify_jwt(
    token: str,
    did_provider: DidDocumentProvider | None,
    status_provider: StatusListProvider | None = None,
    now: datetime | None = None,
    _check_status_list: bool = True,
) -> VerificationResult:
    """Verify a VC-JWT (OB 3.0 §8.2): header, issuer key, signature, claims, dates, status."""
    result = VerificationResult("vc-jwt")
    token = token.strip() if isinstance(token, str) else ""  # files and HTTP bodies end with a newline
    parts = token.split(".")
    try:
        if len(parts) != 3:
            raise ValueError("a compact JWS has three dot-separated parts")
        header, payload = _b64json(parts[0]), _b64json(parts[1])
    except ValueError as error:
        result.add("structure", False, f"not a JWT: {error}")
        return result
    result.add("structure", True, "well-formed compact JWT")
    extra = sorted(set(header) - ALLOWED_HEADER)
    if extra or header.get("typ") != "JWT" or header.get("alg") != ALGORITHM or not header.get("kid"):
        problems = [f"unexpected header parameters {extra}"] if extra else []
        if header.get("typ") != "JWT":
            problems.append(f"typ is {header.get('typ')!r}, not 'JWT'")
        if header.get("alg") != ALGORITHM:
            problems.append(f"alg is {header.get('alg')!r}, not {ALGORITHM}")
        if not header.get("kid"):
            problems.append("kid is missing")
        result.add("header", False, "; ".join(problems))
        return result
    result.add("header", True, "header has only alg EdDSA, kid and typ JWT")
    credential = {k: v for k, v in payload.items() if k not in REGISTERED_CLAIMS}
    result.credential = credential
    try:
        issuer = issuer_id(credential)
    except SigningError as error:
        result.add("claims", False, error.message)
        return result
    if payload.get("iss") != issuer:
        result.add("claims", False, f"iss {payload.get('iss')!r} differs from issuer.id {issuer!r}")
        return result
    if not _check_issuer_controls_key(result, issuer, header["kid"]):
        return result
    key = _resolve(result, header["kid"], did_provider)
    if key is None:
        return result
    try:
        jwt.decode(token, key, algorithms=[ALGORITHM],
                   options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False,
                            "verify_iss": False, "verify_sub": False, "verify_jti": False})
    except jwt.InvalidTokenError as error:
        result.add("signature", False, f"signature does not verify: {error}")
        return result
    result.add("signature", True, "Ed25519 signature verifies")
    try:
        expected = jwt_claims(credential)
    except SigningError as error:
        result.add("claims", False, error.message)
        return result
    mismatched = [name for name in ("iss", "jti", "nbf", "sub", "exp") if payload.get(name) != expected.get(name)]
    if not result.add("claims", not mismatched,
                      f"JWT claims {mismatched} do not match the credential" if mismatched
                      else "iss, jti, nbf, sub and exp match the credential"):
        return result
    _check_period(result, credential, _now(now))
    if _check_status_list:
        _check_status(result, credential, did_provider, status_provider, _now(now))
    return result


def verify_data_integrity(
    credential: dict[str, Any],
    did_provider: DidDocumentProvider | None,
    status_provider: StatusListProvider | None = None,
    now: datetime | None = None,
    _check_status_list: bool = True,
) -> VerificationResult:
    """Verify a credential secured with a ``DataIntegrityProof`` (eddsa-rdfc-2022)."""
    result = VerificationResult("data-integrity", credential=credential)
    if not isinstance(credential, dict):
        result.add("structure", False, "a Data Integrity credential is a JSON object")
        return result
    document, proofs = split_proof(credential)
    if not isinstance(credential.get("proof"), list):
        result.add("structure", False, "proof must be an array (OB 3.0 JSON Schema)")
        return result
    if len(proofs) != 1 or not isinstance(proofs[0], dict):
        result.add("structure", False, f"expected exactly one proof, found {len(proofs)}")
        return result
    proof = proofs[0]
    if proof.get("proofPurpose") != "assertionMethod":
        result.add("structure", False, f"proofPurpose is {proof.get('proofPurpose')!r}, not assertionMethod")
        return result
    result.add("structure", True, "one DataIntegrityProof for assertionMethod")
    try:
        issuer = issuer_id(document)
    except SigningError as error:
        result.add("claims", False, error.message)
        return result
    method = proof.get("verificationMethod")
    if not isinstance(method, str) or not _check_issuer_controls_key(result, issuer, method):
        if not isinstance(method, str):
            result.add("key", False, "proof has no verificationMethod")
        return result
    key = _resolve(result, method, did_provider)
    if key is None:
        return result
    try:
        check_proof(document, proof, key)
    except InvalidSignature:
        result.add("signature", False, "the proof does not match the credential (altered or wrong key)")
        return result
    except FormatError as error:
        result.add("signature", False, error.message)
        return result
    except Exception as error:  # pyld raises many exception types; the page shows the reason
        result.add("signature", False, f"the credential cannot be canonicalised: {error}")
        return result
    result.add("signature", True, f"{proof.get('cryptosuite')} proof verifies")
    _check_period(result, document, _now(now))
    if _check_status_list:
        _check_status(result, document, did_provider, status_provider, _now(now))
    return result


def _check_status(
    result: VerificationResult,
    credential: dict[str, Any],
    did_provider: DidDocumentProvider | None,
    status_provider: StatusListProvider | None,
    now: datetime,
) -> None:
    entries = credential.get("credentialStatus")
    if entries is None:
        result.checks.append(Check("status", "skipped", "the credential has no status entry"))
        return
    for entry in entries if isinstance(entries, list) else [entries]:
        _check_one_status(result, credential, entry, did_provider, status_provider, now)


def _check_one_status(
    result: VerificationResult,
    credential: dict[str, Any],
    entry: Any,
    did_provider: DidDocumentProvider | None,
    status_provider: StatusListProvider | None,
    now: datetime,
) -> None:
    if not isinstance(entry, dict) or entry.get("type") != "BitstringStatusListEntry":
        kind = entry.get("type") if isinstance(entry, dict) else type(entry).__name__
        result.add("status", False, f"status type {kind!r} is not supported (only BitstringStatusListEntry)")
        return
    purpose, url = entry.get("statusPurpose"), entry.get("statusListCredential")
    try:
        index = int(entry.get("statusListIndex", ""))
    except ValueError:
        index = -1
    if purpose not in PURPOSES or not isinstance(url, str) or index < 0:
        result.add("status", False, "credentialStatus lacks a valid statusPurpose, statusListIndex or list URL")
        return
    if status_provider is None:
        result.checks.append(Check("status", "skipped", f"{purpose} status was not checked (no status list)"))
        return
    try:
        published = status_provider(url)
    except Exception as error:  # the page must say why status is unknown rather than crash
        result.add("status", False, f"status list {url} could not be obtained: {error}")
        return
    if isinstance(published, str):
        list_result = verify_jwt(published, did_provider, now=now, _check_status_list=False)
    else:
        list_result = verify_data_integrity(published, did_provider, now=now, _check_status_list=False)
    list_credential = list_result.credential or {}
    if not list_result.ok:
        reasons = "; ".join(c.message for c in list_result.failures)
        result.add("status", False, f"status list {url} is not valid: {reasons}")
        return
    subject = list_credential.get("credentialSubject") or {}
    problems = []
    if list_credential.get("id") != url:
        problems.append(f"its id is {list_credential.get('id')!r}")
    if "BitstringStatusListCredential" not in (list_credential.get("type") or []):
        problems.append("it is not a BitstringStatusListCredential")
    if issuer_id(list_credential) != issuer_id(credential):
        problems.append("it was issued by someone else")
    if subject.get("statusPurpose") != purpose:
        problems.append(f"its purpose is {subject.get('statusPurpose')!r}, not {purpose!r}")
    if problems:
        result.add("status", False, f"status list {url} does not fit this credential: " + ", ".join(problems))
        return
    try:
        bits = StatusList.decode(subject.get("encodedList", ""))
        flagged = bits.get(index)
    except FormatError as error:
        result.add("status", False, f"status list {url}: {error.message}")
        return
    if flagged:
        result.add("status", False, "the issuer has revoked this credential" if purpose == "revocation"
                   else "the issuer has suspended this credential")
    else:
        result.add("status", True, f"not {'revoked' if purpose == 'revocation' else 'suspended'}")
