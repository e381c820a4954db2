"""RDFC-1.0 canonical N-Quads at signing speed: pyld's N-Quads per document *shape*, filled with the
document's strings, canonicalised by oxigraph (Rust).

pyld (pure Python) takes ~10 ms to expand and canonicalise one credential. What costs is processing
the contexts — pyoxigraph's own JSON-LD parser also spends ~3 ms on the VC 2.0 + OB 3.0 contexts —
while oxigraph canonicalises the resulting ~130 quads in ~0.2 ms. For one *shape* of document (the
same keys, types, numbers and contexts; only other strings) JSON-LD processing always yields the same
N-Quads with those strings in the same places, so:

1. every string leaf is replaced by a placeholder IRI ``urn:x-credbridge-leaf:N``; that document, as
   JSON text, is the shape;
2. a new shape goes through pyld once (offline, safe mode: ``jsonld_offline.nquads_reference``) and
   its N-Quads become a cached template (LRU);
3. the template is filled with the document's strings — N-Quads-escaped in literals; in IRI positions
   only absolute IRIs that JSON-LD leaves as they are — and oxigraph parses and canonicalises it.

A string JSON-LD would rewrite (a compact IRI, a term as a vocabulary value, a relative IRI) or that
ends up inside a JSON literal becomes part of the shape instead, so pyld sees its real value. A string
that yields no quad would not be signed; it is refused like an undefined term. No library does this
(JSON-LD processors re-process the contexts for every document), hence this module; the tests compare
it with pyld's own canonicalisation and with jsonld.js + rdf-canonize, on the 1EdTech test vectors and
on every kind of document credbridge signs.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pyoxigraph

from credbridge.connector.issuing.formats.jsonld_offline import (
    UnsafeJsonLdError,
    canonize_reference,
    defined_terms,
    keyword_aliases,
    nquads_reference,
)

_LEAF = "urn:x-credbridge-leaf:"
_SLOT = re.compile(r'<urn:x-credbridge-leaf:(\d+)>|"urn:x-credbridge-leaf:(\d+)"')
_ANY_LEAF = re.compile(r"urn:x-credbridge-leaf:(\d+)")
# an IRI JSON-LD keeps as it is: a scheme, then no character N-Quads forbids in an IRI
_PLAIN_IRI = re.compile(r'^([A-Za-z][A-Za-z0-9+.-]*):[^\x00-\x20<>"{}|^`\\]*$')
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})
_KEYWORDS = frozenset({
    "@base", "@container", "@context", "@direction", "@graph", "@import", "@included", "@index", "@json",
    "@language", "@list", "@nest", "@none", "@prefix", "@propagate", "@protected", "@reverse", "@set",
    "@type", "@value", "@version", "@vocab",
})
TEMPLATE_CACHE_SIZE = 512


@lru_cache(maxsize=1)
def _structural_keys() -> frozenset[str]:
    """Keys whose values shape the expansion itself (contexts, types, keywords and their aliases other
    than ``id``): their values are part of the shape, never placeholders."""
    aliases = {term for term, keyword in keyword_aliases().items() if keyword != "@id"}
    return frozenset(_KEYWORDS | aliases | {"type"})


class _Unusual(Exception):
    """A document this path does not take (a string that looks like a placeholder, a NUL in a key):
    pyld does it."""


def _walk(node: Any, leaves: list[str], tokens: list[str], structural: frozenset[str]) -> None:
    """Collect the string leaves and the shape as tokens (the cache key: it must never be the same for
    two shapes, or one document's strings would be read in another's places)."""
    kind = type(node)
    if kind is str:
        if _LEAF in node:
            raise _Unusual
        leaves.append(node)
        tokens.append("\x01")
    elif kind is dict:
        tokens.append("{")
        for key, value in node.items():
            if "\x00" in key:
                raise _Unusual
            tokens.append("k" + key)
            if key in structural:
                tokens.append("s" + repr(value))
            else:
                _walk(value, leaves, tokens, structural)
        tokens.append("}")
    elif kind is list:
        tokens.append("[")
        for value in node:
            _walk(value, leaves, tokens, structural)
        tokens.append("]")
    else:
        # numbers, booleans, null: their RDF form depends on them, so they are part of the shape
        tokens.append("n" + repr(node))


def _placeholders(node: Any, counter: list[int], fixed: dict[int, str], structural: frozenset[str]) -> Any:
    """The document with each string leaf replaced by its placeholder (or its value, when fixed)."""
    if isinstance(node, str):
        n = counter[0]
        counter[0] += 1
        return fixed.get(n, f"{_LEAF}{n}")
    if isinstance(node, dict):
        return {k: (v if k in structural else _placeholders(v, counter, fixed, structural)) for k, v in node.items()}
    if isinstance(node, list):
        return [_placeholders(v, counter, fixed, structural) for v in node]
    return node


@dataclass(frozen=True)
class _Template:
    # the N-Quads as a str.format pattern: field n is leaf n as a literal, field count + n as an IRI
    pattern: str
    literals: tuple[int, ...]  # leaves that appear as literals
    iris: tuple[int, ...]  # leaves that appear as IRIs
    inexpressible: frozenset[int]  # leaves that must be part of the shape (e.g. inside a JSON literal)
    # pyoxigraph 0.5's RDFC-1.0 labels blank nodes that are tied except through the graph position
    # differently from the spec's other implementations (pyld, rdf-canonize; seen on 1EdTech's
    # "complete" vector with its nested proofs): datasets with named graphs go to pyld
    named_graphs: bool


class _Unsigned(Exception):
    def __init__(self, leaves: list[int]) -> None:
        super().__init__(leaves)
        self.leaves = leaves


def _build(shaped: Any, count: int, expected: set[int]) -> _Template:
    nquads = nquads_reference(shaped)
    pattern: list[str] = []
    literals: set[int] = set()
    iris: set[int] = set()
    position = 0
    for match in _SLOT.finditer(nquads):
        pattern.append(nquads[position:match.start()].replace("{", "{{").replace("}", "}}"))
        iri, literal = match.groups()
        if iri is not None:
            iris.add(int(iri))
            pattern.append(f"{{{count + int(iri)}}}")
        else:
            literals.add(int(literal))
            pattern.append(f"{{{int(literal)}}}")
        position = match.end()
    pattern.append(nquads[position:].replace("{", "{{").replace("}", "}}"))
    everywhere = Counter(int(n) for n in _ANY_LEAF.findall(nquads))
    as_slots = Counter(int(a or b) for a, b in _SLOT.findall(nquads))
    unsigned = expected - set(everywhere)
    if unsigned:
        raise _Unsigned(sorted(unsigned))
    inexpressible = frozenset(n for n, times in everywhere.items() if as_slots[n] != times)
    named_graphs = any(not isinstance(quad.graph_name, pyoxigraph.DefaultGraph)
                       for quad in pyoxigraph.parse(nquads, pyoxigraph.RdfFormat.N_QUADS, lenient=True))
    return _Template("".join(pattern), tuple(sorted(literals)), tuple(sorted(iris)), inexpressible, named_graphs)


class _Templates:
    """A thread-safe LRU of templates by shape key."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, _Template] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> _Template | None:
        with self._lock:
            template = self._items.get(key)
            if template is not None:
                self._items.move_to_end(key)
            return template

    def put(self, key: str, template: _Template) -> None:
        with self._lock:
            self._items[key] = template
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


TEMPLATES = _Templates(TEMPLATE_CACHE_SIZE)


@lru_cache(maxsize=4096)
def _plain_iri(value: str) -> bool:
    match = _PLAIN_IRI.match(value)
    return bool(match) and match.group(1) not in defined_terms() and value not in defined_terms()


def _fill(template: _Template, leaves: list[str]) -> tuple[str, set[int]]:
    """The N-Quads text, and the IRI leaves whose value JSON-LD would not keep as it is."""
    count = len(leaves)
    encoded = [""] * (2 * count)
    for n in template.literals:
        value = leaves[n]
        if "\\" in value or '"' in value or "\n" in value or "\r" in value:
            value = value.translate(_ESCAPES)  # str.translate is slow, so only when needed
        encoded[n] = '"' + value + '"'
    plain = _plain_iri
    rewritten = {n for n in template.iris if not plain(leaves[n])}
    for n in template.iris:
        encoded[count + n] = "<" + leaves[n] + ">"
    return template.pattern.format(*encoded), rewritten


def _canonical(nquads: str) -> str:
    # lenient: the IRIs filled in were checked by _plain_iri, the rest comes from pyld
    dataset = pyoxigraph.Dataset(pyoxigraph.parse(nquads, pyoxigraph.RdfFormat.N_QUADS, lenient=True))
    dataset.canonicalize(pyoxigraph.CanonicalizationAlgorithm.RDFC_1_0)
    # split on "\n" only: str.splitlines would also split inside literals holding U+2028 and the like
    lines = pyoxigraph.serialize(dataset, format=pyoxigraph.RdfFormat.N_QUADS).decode("utf-8").split("\n")
    lines.pop()  # after the last "\n"
    lines.sort()  # RDFC-1.0's output is the canonical quads in code point order
    return "".join(line + "\n" for line in lines)


def canonize(document: dict[str, Any]) -> str:
    """RDFC-1.0 canonical N-Quads of a compacted JSON-LD document, processed offline in safe mode.

    Raises ``UnknownContextError`` for a context that is not bundled and ``UnsafeJsonLdError`` for an
    undefined term, a relative IRI or a value JSON-LD processing drops.
    """
    structural = _structural_keys()
    leaves: list[str] = []
    tokens: list[str] = []
    try:
        _walk(document, leaves, tokens, structural)
    except _Unusual:
        return canonize_reference(document)
    shape_key = "\x00".join(tokens)
    fixed: dict[int, str] = {}
    for _attempt in range(3):
        key = shape_key if not fixed else shape_key + "\x00fixed" + repr(sorted(fixed.items()))
        template = TEMPLATES.get(key)
        if template is None:
            shaped = _placeholders(document, [0], fixed, structural)
            try:
                template = _build(shaped, len(leaves), set(range(len(leaves))) - set(fixed))
            except _Unsigned as unsigned:
                values = ", ".join(repr(leaves[n]) for n in unsigned.leaves[:5])
                raise UnsafeJsonLdError(f"JSON-LD processing drops {len(unsigned.leaves)} value(s) of the "
                                        f"document ({values}): they would not be signed") from None
            TEMPLATES.put(key, template)
        if template.named_graphs:
            return canonize_reference(document)
        needed = {n for n in template.inexpressible if n not in fixed}
        if not needed:
            nquads, needed = _fill(template, leaves)
            if not needed:
                return _canonical(nquads)
        fixed.update((n, leaves[n]) for n in needed)
    return canonize_reference(document)
