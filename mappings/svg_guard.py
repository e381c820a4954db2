"""What an SVG badge image may contain: drawing, and nothing that runs, navigates or loads from elsewhere.

A template's image is signed into every credential of the template and shown by wallets, backpacks
and verifiers, some of which put an SVG inline into their own pages or open it as a document. A
pattern over the bytes does not hold against that: a script element with a namespace prefix
(``<s:script>``), markup built from an entity declared in the DTD (``<!ENTITY x "&#60;script>…">``),
``javascript&#58;`` in a link, an XHTML element inside the SVG all passed one. So the image is parsed
the way a browser parses it (defusedxml: no DTD, no entities, nothing external), and every element,
attribute and style is checked against what a badge needs:

* elements of the SVG namespace that SVG defines, except ``script``, ``foreignObject`` and the SVG fonts
  no browser draws; no XHTML or MathML element (a browser would run or render those); elements of other
  namespaces (an editor's metadata, e.g. Inkscape's) are inert in browsers and stay when written with a
  prefix, as editors write them;
* ``title`` and ``desc`` hold text only. A page that puts the image inline is read by the HTML parser,
  which ends the SVG at an element HTML knows (``<img>``, ``<p>``, unprefixed, whatever its namespace
  in XML) and reads the content of ``title`` and ``desc`` as HTML: a harmless-looking SVG becomes an
  ``<img>`` that loads from elsewhere or a ``<form>`` in the wallet's page;
* no event handler attribute (``on…``) on any element, and no animation that sets one or a link;
* links (``href``, ``xlink:href``) only to a part of the image itself (``#id``) or to an embedded PNG or
  JPEG (``data:image/png;base64,…``): the image never loads anything from elsewhere (which would also
  tell a third party who looks at the credential);
* styles (``<style>``, ``style=``, any attribute) without ``@import``, without ``url(…)`` other than
  ``url(#id)``, and without ``javascript:``;
* no ``<?xml-stylesheet?>`` processing instruction.

No maintained Python library sanitises SVG to this standard (bleach and nh3 clean HTML, and
rewriting an image a school signs would change it); the rules above are the allowlist a badge needs.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import ParseError, TreeBuilder
from xml.parsers import expat

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

SVG_NS = "http://www.w3.org/2000/svg"
#: namespaces whose elements a browser renders or runs inside an SVG document
ACTIVE_NAMESPACES = ("http://www.w3.org/1999/xhtml", "http://www.w3.org/1998/Math/MathML")
#: SVG elements that run code or embed a document
FORBIDDEN_SVG = {"script", "foreignobject", "handler", "listener", "iframe", "embed", "object"}
ANIMATIONS = {"set", "animate", "animatemotion", "animatetransform", "animatecolor", "discard"}
#: the elements SVG 1.1 and SVG 2 define (lower case), without the forbidden ones and the SVG fonts (``font``
#: is also a name at which the HTML parser ends an inline SVG)
SVG_ELEMENTS = frozenset({"a", "animate", "animatecolor", "animatemotion", "animatetransform", "circle", "clippath",
    "color-profile", "cursor", "defs", "desc", "discard", "ellipse", "feblend", "fecolormatrix",
    "fecomponenttransfer", "fecomposite", "feconvolvematrix", "fediffuselighting", "fedisplacementmap",
    "fedistantlight", "fedropshadow", "feflood", "fefunca", "fefuncb", "fefuncg", "fefuncr", "fegaussianblur",
    "feimage", "femerge", "femergenode", "femorphology", "feoffset", "fepointlight", "fespecularlighting",
    "fespotlight", "fetile", "feturbulence", "filter", "g", "hatch", "hatchpath", "image", "line", "lineargradient",
    "marker", "mask", "mesh", "meshgradient", "meshpatch", "meshrow", "metadata", "mpath", "path", "pattern",
    "polygon", "polyline", "radialgradient", "rect", "set", "solidcolor", "stop", "style", "svg", "switch", "symbol",
    "text", "textpath", "title", "tref", "tspan", "use", "view"})
#: SVG elements whose content an HTML parser reads as HTML (its "HTML integration points")
TEXT_ONLY = {"title", "desc"}
_LINK_OK = re.compile(r"^(#[^\s]*|data:image/(png|jpeg);base64,[A-Za-z0-9+/=\s]*)$", re.IGNORECASE)
_URL = re.compile(r"url\s*\(\s*(['\"]?)\s*([^)'\"]*)", re.IGNORECASE)
_STYLE_BAD = re.compile(r"@import|javascript\s*:|expression\s*\(|behavior\s*:|-moz-binding", re.IGNORECASE)


class UnsafeSvg(ValueError):
    """The SVG is not a plain drawing; the message names what was found."""


def _local(name: str) -> tuple[str, str]:
    """(namespace, local name) of an ElementTree tag or attribute name."""
    if name.startswith("{"):
        namespace, _, local = name[1:].partition("}")
        return namespace, local
    return "", name


def _style_problem(text: str) -> str | None:
    found = _STYLE_BAD.search(text)
    if found:
        return found.group(0)
    for match in _URL.finditer(text):
        if not match.group(2).strip().startswith("#"):
            return f"url({match.group(2).strip()[:40]})"
    return None


def _element_problem(tag: str, written: str, attributes: dict[str, str], text: str,
                     has_children: bool) -> str | None:
    namespace, local = _local(tag)
    name = local.lower()
    if namespace in ACTIVE_NAMESPACES:
        return f"the {local} element of {namespace}"
    if namespace == SVG_NS and name in FORBIDDEN_SVG:
        return f"a {local} element"
    if namespace == SVG_NS and name not in SVG_ELEMENTS:
        return f"a {local} element, which SVG does not define (a page showing the image would take it as HTML)"
    if namespace != SVG_NS and ":" not in written:
        return (f"a {local} element of {namespace or 'no namespace'} written without a prefix (a page showing the "
                "image would take it as HTML)")
    if namespace == SVG_NS and name in TEXT_ONLY and has_children:
        return f"markup inside its {local} (a page showing the image would read it as HTML)"
    for key, value in attributes.items():
        attribute = _local(key)[1].lower()
        if attribute.startswith("on"):
            return f"an event handler ({_local(key)[1]})"
        if attribute == "href" and not _LINK_OK.match(value.strip()):
            return f"a link to {value.strip()[:60]!r} (only #id and embedded PNG or JPEG images)"
        if namespace == SVG_NS and name in ANIMATIONS and attribute == "attributename":
            target = _local(value.strip().split(":")[-1])[1].lower()
            if target.startswith("on") or target == "href":
                return f"an animation of {value.strip()[:40]}"
        problem = _style_problem(value)
        if problem:
            return f"{problem} in the {_local(key)[1]} attribute"
    if namespace == SVG_NS and name == "style":
        problem = _style_problem(text)
        if problem:
            return f"{problem} in a style element"
    return None


class _Builder(TreeBuilder):
    """Keeps processing instructions, which ElementTree drops by default."""

    def __init__(self) -> None:
        super().__init__(insert_pis=True)
        self.stylesheet = False

    def pi(self, target: str, data: str | None = None) -> None:
        if target.lower() == "xml-stylesheet":
            self.stylesheet = True
        super().pi(target, data)


def check_svg(data: bytes) -> None:
    """Raise :class:`UnsafeSvg` unless ``data`` is an SVG document that only draws."""
    builder = _Builder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        parser.feed(data)
        root = parser.close()
    except DefusedXmlException as exc:
        raise UnsafeSvg(f"an SVG image may not declare a DTD or entities ({type(exc).__name__})") from None
    except ParseError as exc:
        raise UnsafeSvg(f"the data is not an SVG file (not well-formed XML: {exc})") from None
    if builder.stylesheet:
        raise UnsafeSvg("an SVG image may not load a stylesheet (<?xml-stylesheet?>)")
    elements = [element for element in root.iter() if isinstance(element.tag, str)]  # not the PIs
    written = _written_names(data)
    for element, name in zip(elements, written, strict=True):
        problem = _element_problem(element.tag, name, dict(element.attrib), element.text or "",
                                   any(isinstance(child.tag, str) for child in element))
        if problem:
            raise UnsafeSvg(f"an SVG image may not contain scripts, event handlers, foreign objects or anything "
                            f"loaded from elsewhere: it has {problem}")
    if root.tag != f"{{{SVG_NS}}}svg":
        raise UnsafeSvg(f"the data is not an SVG file (its root is <{_local(root.tag)[1]}>, not an <svg> of the "
                        f"namespace {SVG_NS})")


def _written_names(data: bytes) -> list[str]:
    """Each element's name as written (``inkscape:grid``, ``img``), in document order: what an HTML parser
    sees, where ElementTree only gives the namespace. Called after the defused parse has refused any DTD."""
    names: list[str] = []
    parser = expat.ParserCreate()  # no namespace processing: the names as written
    parser.StartElementHandler = lambda name, _attributes: names.append(name)
    parser.Parse(data, True)
    return names
