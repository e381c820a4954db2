"""Offline JSON-LD processing: bundled contexts only, safe mode, RDFC-1.0 canonical N-Quads.

Contexts are shipped in ``data/contexts`` (copied byte-for-byte from their publishers, see
tests/data/standards/SOURCES.md). Fetching a context at verification time would let whoever
controls that URL change the meaning of a signed document, so any other URL is refused.

Processing is "safe mode" as W3C Data Integrity asks and as jsonld.js implements it: a property the
contexts do not define, or a type or id that stays a relative IRI, is an error instead of a statement
silently left out of (or mangled in) the signed graph. ``canonical_nquads.canonize`` is the fast
path; :func:`canonize_reference` is the pure-pyld path it is tested against.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from pyld import jsonld

from credbridge.connector.issuing.formats.errors import UnknownContextError

DATA = Path(__file__).parent / "data"

VC_V2 = "https://www.w3.org/ns/credentials/v2"
VC_V1 = "https://www.w3.org/2018/credentials/v1"
OB_V3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
# defines 1EdTechJsonSchemaValidator2019 (the credentialSchema type) — 1EdTech's samples declare it
OB_EXTENSIONS = "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json"
EDC_AP = "http://data.europa.eu/snb/model/context/edc-ap"
DID_V1 = "https://www.w3.org/ns/did/v1"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"
JWS_2020_V1 = "https://w3id.org/security/suites/jws-2020/v1"

CONTEXT_FILES: dict[str, str] = {
    VC_V2: "credentials-v2.jsonld",
    VC_V1: "credentials-v1.jsonld",
    "https://w3id.org/security/data-integrity/v1": "data-integrity-v1.jsonld",
    OB_V3: "context-3.0.3.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.2.json": "context-3.0.2.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.1.json": "context-3.0.1.json",
    OB_EXTENSIONS: "ob-v3p0-extensions.json",
    EDC_AP: "edc-ap-context.jsonld",
    DID_V1: "did-v1.jsonld",
    MULTIKEY_V1: "multikey-v1.jsonld",
    JWS_2020_V1: "jws-2020-v1.jsonld",
}

_ABSOLUTE_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class UnsafeJsonLdError(ValueError):
    """The document uses a term the contexts do not define, or an IRI that stays relative."""


@cache
def _context(url: str) -> dict[str, Any]:
    return json.loads((DATA / "contexts" / CONTEXT_FILES[url]).read_text(encoding="utf-8"))


def document_loader(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """pyld document loader serving only the bundled contexts."""
    key = url.rstrip("#")
    if key not in CONTEXT_FILES:
        raise UnknownContextError(
            f"JSON-LD context {url!r} is not bundled with credbridge; known contexts: "
            + ", ".join(sorted(CONTEXT_FILES))
        )
    return {"contextUrl": None, "documentUrl": url, "document": _context(key)}


def _term_definitions() -> Iterator[tuple[str, Any]]:
    """(term, definition) of every bundled context, scoped contexts included."""
    def walk(context: Any) -> Iterator[tuple[str, Any]]:
        if isinstance(context, list):
            for item in context:
                yield from walk(item)
        elif isinstance(context, dict):
            for term, definition in context.items():
                yield term, definition
                if isinstance(definition, dict) and "@context" in definition:
                    yield from walk(definition["@context"])

    for url in CONTEXT_FILES:
        yield from walk(_context(url).get("@context"))


@cache
def defined_terms() -> frozenset[str]:
    """Every term any bundled context defines (at any depth): a compact IRI whose prefix is one of
    these may expand to something else, so the fast path never takes such a value as it is."""
    return frozenset(term for term, _ in _term_definitions())


@cache
def keyword_aliases() -> dict[str, str]:
    """Terms the bundled contexts define as a keyword (``"type": "@type"``), with the keyword."""
    aliases: dict[str, str] = {}
    for term, definition in _term_definitions():
        keyword = definition.get("@id") if isinstance(definition, dict) else definition
        if isinstance(keyword, str) and keyword.startswith("@") and not term.startswith("@"):
            aliases[term] = keyword
    return aliases


def _options() -> dict[str, Any]:
    # base None: a relative IRI stays relative (and is refused) instead of being resolved against
    # pyld's default base http://example.org/base/
    return {"documentLoader": document_loader, "base": None}


def _raise_unknown_context(error: BaseException) -> None:
    # pyld wraps loader exceptions several levels deep; surface ours with its clear message.
    seen = error
    while seen is not None:
        if isinstance(seen, UnknownContextError):
            raise seen from error
        details = getattr(seen, "details", None)
        cause = details.get("cause") if isinstance(details, dict) else None
        seen = cause or seen.__cause__ or seen.__context__


def _relative_iris(expanded: Any) -> Iterator[str]:
    """Node ids, node types, datatypes and property IRIs of expanded JSON-LD that are not absolute."""
    if isinstance(expanded, list):
        for item in expanded:
            yield from _relative_iris(item)
        return
    if not isinstance(expanded, dict):
        return
    node_id = expanded.get("@id")
    if isinstance(node_id, str) and not (node_id.startswith("_:") or _ABSOLUTE_IRI.match(node_id)):
        yield f"@id {node_id!r}"
    types = expanded.get("@type", [])
    for value in types if isinstance(types, list) else [types]:
        if isinstance(value, str) and value != "@json" and not _ABSOLUTE_IRI.match(value):
            yield f"@type {value!r}"
    if "@value" in expanded:
        return
    for key, value in expanded.items():
        if not key.startswith("@") and not _ABSOLUTE_IRI.match(key):
            yield f"property {key!r}"
        if key not in ("@id", "@type"):
            yield from _relative_iris(value)


def expand_strict(document: dict[str, Any]) -> list[Any]:
    """Expand in safe mode: refuse properties the contexts do not define and relative IRIs.

    A dropped property would be invisible to the signature, so tampering with it would go
    unnoticed; a relative type or id means something else to every processor that resolves it.
    """
    dropped: list[str | None] = []
    try:
        expanded = jsonld.JsonLdProcessor(on_property_dropped=dropped.append).expand(document, _options())
    except jsonld.JsonLdError as error:
        _raise_unknown_context(error)
        raise
    if dropped:
        names = ", ".join(sorted({str(d) for d in dropped}))
        raise UnsafeJsonLdError(f"JSON-LD properties not defined by the document's contexts: {names}")
    relative = sorted(set(_relative_iris(expanded)))
    if relative:
        raise UnsafeJsonLdError("JSON-LD terms not defined by the document's contexts (relative IRIs): "
                                + ", ".join(relative))
    return expanded


def nquads_reference(document: dict[str, Any]) -> str:
    """N-Quads of a document by pyld after strict expansion (not canonicalised)."""
    expanded = expand_strict(document)
    try:
        return jsonld.to_rdf(expanded, {**_options(), "format": "application/n-quads"})
    except jsonld.JsonLdError as error:
        _raise_unknown_context(error)
        raise


def canonize_reference(document: dict[str, Any]) -> str:
    """RDFC-1.0 canonical N-Quads computed by pyld alone (pure Python, ~10 ms a credential)."""
    expanded = expand_strict(document)
    try:
        return jsonld.normalize(expanded, {**_options(), "algorithm": "URDNA2015", "format": "application/n-quads"})
    except jsonld.JsonLdError as error:
        _raise_unknown_context(error)
        raise


def to_nquads(document: dict[str, Any]) -> str:
    """N-Quads of a document (not canonicalised), e.g. to load it into rdflib for SHACL."""
    try:
        return jsonld.to_rdf(document, {**_options(), "format": "application/n-quads"})
    except jsonld.JsonLdError as error:
        _raise_unknown_context(error)
        raise
