"""W3C Data Integrity ``DataIntegrityProof`` with the ``eddsa-rdfc-2022`` cryptosuite.

Algorithm (W3C vc-di-eddsa §3.3): canonicalise the proof configuration and the unsecured document
with RDFC-1.0, sign SHA-256(proof config) || SHA-256(document) with Ed25519, encode the signature as
multibase base58btc. ``proof`` is an array because the OB 3.0 JSON Schema requires one. The older
name ``eddsa-2022`` (same algorithm; 1EdTech's test vector uses it) is accepted when verifying.
"""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime
from typing import Any

import base58
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from credbridge.connector.issuing.formats.canonical_nquads import canonize
from credbridge.connector.issuing.formats.content import iso_z
from credbridge.connector.issuing.formats.errors import SigningError

CRYPTOSUITE = "eddsa-rdfc-2022"
ACCEPTED_CRYPTOSUITES = (CRYPTOSUITE, "eddsa-2022")


def _hash_data(document: dict[str, Any], proof_config: dict[str, Any]) -> bytes:
    config = {**proof_config, "@context": document["@context"]}
    return hashlib.sha256(canonize(config).encode("utf-8")).digest() + hashlib.sha256(
        canonize(document).encode("utf-8")
    ).digest()


def proof_configuration(
    verification_method: str, created: datetime | None = None, proof_purpose: str = "assertionMethod"
) -> dict[str, Any]:
    return {
        "type": "DataIntegrityProof",
        "cryptosuite": CRYPTOSUITE,
        "created": iso_z(created or datetime.now(UTC)),
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }


def sign_data_integrity(
    credential: dict[str, Any],
    private_key: Ed25519PrivateKey,
    verification_method: str,
    created: datetime | None = None,
) -> dict[str, Any]:
    """A copy of ``credential`` with ``proof: [DataIntegrityProof]`` added."""
    if "proof" in credential:
        raise SigningError("credential already carries a proof; sign the unsigned credential")
    if "@context" not in credential:
        raise SigningError("credential has no @context")
    try:
        config = proof_configuration(verification_method, created)
        signature = private_key.sign(_hash_data(credential, config))
    except ValueError as error:
        raise SigningError(f"cannot canonicalise the credential: {error}") from error
    proof = {**config, "proofValue": "z" + base58.b58encode(signature).decode("ascii")}
    # a new top-level dict; the nested values are the caller's (nothing here changes them)
    return {**credential, "proof": [proof]}


def split_proof(secured: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The unsecured document and its proofs (a single proof object is tolerated here)."""
    document = copy.deepcopy(secured)
    proofs = document.pop("proof", [])
    if isinstance(proofs, dict):
        proofs = [proofs]
    return document, proofs


def check_proof(document: dict[str, Any], proof: dict[str, Any], public_key: Ed25519PublicKey) -> None:
    """Raise ``InvalidSignature`` or ``ValueError`` (with a reason) unless ``proof`` signs ``document``."""
    if proof.get("type") != "DataIntegrityProof":
        raise ValueError(f"proof type {proof.get('type')!r} is not DataIntegrityProof")
    if proof.get("cryptosuite") not in ACCEPTED_CRYPTOSUITES:
        raise ValueError(f"cryptosuite {proof.get('cryptosuite')!r} is not {CRYPTOSUITE}")
    value = proof.get("proofValue")
    if not isinstance(value, str) or not value.startswith("z"):
        raise ValueError("proofValue is not multibase base58btc")
    try:
        signature = base58.b58decode(value[1:])
    except ValueError as error:
        raise ValueError("proofValue is not valid base58btc") from error
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    if len(signature) != 64:
        raise InvalidSignature()
    public_key.verify(signature, _hash_data(document, config))
