"""Offline JSON-LD processing: bundled contexts only, RDFC-1.0 (URDNA2015) canonical N-Quads.

Contexts are shipped in ``data/contexts`` (copied byte-for-byte from the upstream repositories, see
/work/shared/standards/SOURCES.md). Fetching a context at verification time would let whoever
controls that URL change the meaning of a signed document, so any other URL is refused.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from pyld import jsonld

from credbridge.connector.issuing.formats.errors import UnknownContextError

DATA = Path(__file__).parent / "data"

VC_V2 = "https://www.w3.org/ns/credentials/v2"
VC_V1 = "https://www.w3.org/2018/credentials/v1"
OB_V3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
EDC_AP = "http://data.europa.eu/snb/model/context/edc-ap"

CONTEXT_FILES: dict[str, str] = {
    VC_V2: "credentials-v2.jsonld",
    VC_V1: "credentials-v1.jsonld",
    "https://w3id.org/security/data-integrity/v1": "data-integrity-v1.jsonld",
    OB_V3: "context-3.0.3.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.2.json": "context-3.0.2.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.1.json": "context-3.0.1.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json": "ob-v3p0-extensions.json",
    EDC_AP: "edc-ap-context.jsonld",
}


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


def _options() -> dict[str, Any]:
    return {"documentLoader": document_loader}


def _raise_unknown_context(error: BaseException) -> None:
    # pyld wraps loader exceptions several levels deep; surface ours with its clear message.
    seen = error
    while seen is not None:
        if isinstance(seen, UnknownContextError):
            raise seen from error
        details = getattr(seen, "details", None)
        cause = details.get("cause") if isinstance(details, dict) else None
        seen = cause or seen.__cause__ or seen.__context__


def expand_strict(document: dict[str, Any]) -> list[Any]:
    """Expand, refusing documents with properties the contexts do not define.

    A dropped property would be invisible to the signature, so tampering with it would go
    unnoticed; the W3C Data Integrity spec asks for this "safe mode".
    """
    dropped: list[str | None] = []
    try:
        expanded = jsonld.JsonLdProcessor(on_property_dropped=dropped.append).expand(document, _options())
    except jsonld.JsonLdError as error:
        _raise_unknown_context(error)
        raise
    if dropped:
        names = ", ".join(sorted({str(d) for d in dropped}))
        raise ValueError(f"JSON-LD properties not defined by the document's contexts: {names}")
    return expanded


def canonize(document: dict[str, Any]) -> str:
    """RDFC-1.0 canonical N-Quads of a compacted JSON-LD document (strict expansion first)."""
    expanded = expand_strict(document)
    try:
        return jsonld.normalize(
            expanded, {**_options(), "algorithm": "URDNA2015", "format": "application/n-quads"}
        )
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
