"""Issuer identity: ``did:web`` documents for schools, ``did:key``, and key resolution for verifiers.

did:web (https://w3c-ccg.github.io/did-method-web/): the host (with ``%3A`` before a port) and
colon-separated path segments; ``did:web:cb.example.org%3A8443:schools:tsrb`` is served at
``https://cb.example.org:8443/schools/tsrb/did.json``. Each key appears twice in the document — as a
``Multikey`` (what Data Integrity verifiers read) and as a ``JsonWebKey2020`` (what JOSE libraries read)
— and every listed key, current and rotated, is in ``assertionMethod`` so credentials signed with a
rotated key keep verifying. Withdraw a compromised key by leaving it out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from credbridge.connector.issuing.formats.errors import KeyResolutionError
from credbridge.connector.issuing.formats.keys import (
    public_from_jwk,
    public_from_multibase,
    public_jwk,
    public_multibase,
)

DID_CONTEXTS = [
    "https://www.w3.org/ns/did/v1",
    "https://w3id.org/security/multikey/v1",
    "https://w3id.org/security/suites/jws-2020/v1",
]
JWK_SUFFIX = "-jwk"
# the type the jws-2020 context defines (with publicKeyJwk); "JsonWebKey" is defined by no context we
# declare, so safe-mode JSON-LD processors reject a document using it
JWK_METHOD_TYPE = "JsonWebKey2020"
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")
_FRAGMENT = re.compile(r"^[A-Za-z0-9._-]+$")

DidDocumentProvider = Callable[[str], dict[str, Any]]
"""Given a DID (or controller URL), return its DID document or raise KeyResolutionError."""


@dataclass(frozen=True)
class NamedKey:
    """A public key under a fragment name, e.g. ``NamedKey("key-2026-11", pub)``."""

    name: str
    public_key: Ed25519PublicKey


def did_web_id(host: str, *path: str, port: int | None = None) -> str:
    """``did_web_id("cb.example.org", "schools", "tsrb", port=8443)``."""
    if not host or "/" in host or ":" in host:
        raise ValueError(f"did:web host {host!r} must be a bare host name (give the port separately)")
    for segment in path:
        if not _SEGMENT.match(segment):
            raise ValueError(f"did:web path segment {segment!r} may only hold letters, digits, '.', '_', '-'")
    authority = host.lower() + (quote(f":{port}") if port is not None else "")
    return ":".join(["did:web", authority, *path])


def did_web_school(host: str, slug: str, port: int | None = None) -> str:
    return did_web_id(host, "schools", slug, port=port)


def did_web_url(did: str) -> str:
    """Where a did:web document is published (the web layer serves it there)."""
    if not did.startswith("did:web:"):
        raise ValueError(f"{did!r} is not a did:web identifier")
    authority, *path = did[len("did:web:"):].split(":")
    base = "https://" + unquote(authority)
    return base + ("/" + "/".join(path) if path else "/.well-known") + "/did.json"


def did_web_document(did: str, keys: Sequence[NamedKey]) -> dict[str, Any]:
    """The DID document: first key is current, the rest are rotated keys still trusted."""
    if not keys:
        raise ValueError("a DID document needs at least one key")
    names = [k.name for k in keys]
    if len(set(names)) != len(names):
        raise ValueError(f"key names must be unique: {names}")
    methods: list[dict[str, Any]] = []
    for key in keys:
        if not _FRAGMENT.match(key.name):
            raise ValueError(f"key name {key.name!r} may only hold letters, digits, '.', '_', '-'")
        methods.append({
            "id": f"{did}#{key.name}",
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": public_multibase(key.public_key),
        })
        methods.append({
            "id": f"{did}#{key.name}{JWK_SUFFIX}",
            "type": JWK_METHOD_TYPE,
            "controller": did,
            "publicKeyJwk": public_jwk(key.public_key),
        })
    ids = [m["id"] for m in methods]
    return {
        "@context": DID_CONTEXTS,
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": ids,
        "authentication": ids[:2],
    }


def jwks(keys: Sequence[NamedKey], did: str | None = None) -> dict[str, Any]:
    """A JWKS of the same keys; ``kid`` is the verification method id when ``did`` is given."""
    return {"keys": [
        {**public_jwk(k.public_key), "kid": f"{did}#{k.name}" if did else k.name, "alg": "EdDSA", "use": "sig"}
        for k in keys
    ]}


def did_key(public_key: Ed25519PublicKey) -> str:
    return "did:key:" + public_multibase(public_key)


def did_key_verification_method(public_key: Ed25519PublicKey) -> str:
    fingerprint = public_multibase(public_key)
    return f"did:key:{fingerprint}#{fingerprint}"


def did_key_document(did: str) -> dict[str, Any]:
    fingerprint = did.removeprefix("did:key:")
    public_from_multibase(fingerprint)  # validates
    vm = f"{did}#{fingerprint}"
    return {
        "@context": DID_CONTEXTS[:2],
        "id": did,
        "verificationMethod": [
            {"id": vm, "type": "Multikey", "controller": did, "publicKeyMultibase": fingerprint}
        ],
        "assertionMethod": [vm],
        "authentication": [vm],
    }


def controller_of(verification_method: str) -> str:
    """The DID (or URL) part of a verification method id, i.e. what must equal the issuer id."""
    controller, sep, fragment = verification_method.partition("#")
    if not sep and controller.startswith("did:key:"):
        return controller  # a bare did:key names its only key (1EdTech vectors use this form)
    if not sep or not fragment:
        raise KeyResolutionError(f"verification method {verification_method!r} has no '#fragment'")
    return controller


def resolve_public_key(
    verification_method: str,
    provider: DidDocumentProvider | None,
    purpose: str = "assertionMethod",
) -> Ed25519PublicKey:
    """Public key of ``verification_method``, checked to be authorised for ``purpose``.

    ``did:key`` resolves locally; anything else asks ``provider`` for the controller's document.
    """
    controller = controller_of(verification_method)
    if controller.startswith("did:key:"):
        document = did_key_document(controller)
        if verification_method == controller:
            verification_method = document["verificationMethod"][0]["id"]
    else:
        if provider is None:
            raise KeyResolutionError(f"no DID document provider to resolve {controller!r}")
        document = provider(controller)
    if document.get("id") != controller:
        raise KeyResolutionError(
            f"DID document id {document.get('id')!r} does not match controller {controller!r}"
        )
    method = _find_method(document, verification_method)
    authorised = [_absolute(controller, m if isinstance(m, str) else m.get("id", ""))
                  for m in document.get(purpose, [])]
    if verification_method not in authorised:
        raise KeyResolutionError(f"{verification_method!r} is not listed under {purpose} of {controller!r}")
    if method.get("controller") not in (None, controller):
        raise KeyResolutionError(f"{verification_method!r} is controlled by {method.get('controller')!r}")
    if "publicKeyMultibase" in method:
        return public_from_multibase(method["publicKeyMultibase"])
    if "publicKeyJwk" in method:
        return public_from_jwk(method["publicKeyJwk"])
    raise KeyResolutionError(f"{verification_method!r} has neither publicKeyMultibase nor publicKeyJwk")


def _absolute(controller: str, method_id: str) -> str:
    return controller + method_id if method_id.startswith("#") else method_id


def _find_method(document: dict[str, Any], verification_method: str) -> dict[str, Any]:
    controller = document["id"]
    candidates = list(document.get("verificationMethod", []))
    candidates += [m for m in document.get("assertionMethod", []) if isinstance(m, dict)]
    for method in candidates:
        if _absolute(controller, method.get("id", "")) == verification_method:
            return method
    raise KeyResolutionError(f"verification method {verification_method!r} is not in the DID document")
