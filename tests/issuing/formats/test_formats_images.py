"""The credential's face: a generated SVG badge or the school's own image, in both documents."""

from __future__ import annotations

import base64
import copy
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import rdflib

from credbridge.connector.issuing.adapters.content import branding_of, credential_image, issuer_name
from credbridge.connector.issuing.formats import build_elm, build_ob3
from credbridge.connector.issuing.formats.canonical_nquads import canonize
from credbridge.connector.issuing.formats.elm import placeholder_png
from credbridge.connector.issuing.formats.errors import ContentError
from credbridge.connector.issuing.formats.images import Branding, Image, badge_svg, image_from_data_uri
from tests.issuing.formats.conftest import elm_report, make_content

SVG_NS = "{http://www.w3.org/2000/svg}"


def _texts(image: Image) -> list[str]:
    root = ET.fromstring(image.data)  # noqa: S314 - our own output
    return ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]


def test_the_badge_shows_title_eqf_level_and_issuer() -> None:
    badge = badge_svg("Operater CNC strojeva (mikrokvalifikacija)", 4, "Strukovna škola strojarstva", "#1F4E79")
    texts = _texts(badge)
    assert " ".join(texts).startswith("SŠS Operater CNC strojeva")  # initials, then the wrapped title
    assert "EQF 4" in texts and texts[-1] == "Strukovna škola strojarstva"
    assert badge.media_type == "image/svg+xml" and b'fill="#1F4E79"' in badge.data
    assert badge == badge_svg("Operater CNC strojeva (mikrokvalifikacija)", 4, "Strukovna škola strojarstva",
                              "#1F4E79")  # deterministic: the same credential gets the same face


def test_hostile_text_stays_text() -> None:
    badge = badge_svg('<script>alert(1)</script> & "x"', 3, "<b>School</b>")
    root = ET.fromstring(badge.data)  # noqa: S314 - our own output, and well-formed XML
    assert not list(root.iter(f"{SVG_NS}script"))
    assert "<script>" in " ".join(_texts(badge)) and "<b>School</b>" in _texts(badge)[-1]


def test_light_colours_get_dark_text_and_bad_colours_the_default() -> None:
    assert b'fill="#111111"' in badge_svg("T", 3, "S", "#F2C94C").data
    assert b'fill="#FFFFFF"' in badge_svg("T", 3, "S", "#1F4E79").data
    assert b"#1F4E79" in badge_svg("T", 3, "S", "red; stroke: url(evil)").data  # not a colour: the default


def test_a_logo_is_drawn_inside_the_badge() -> None:
    logo = Image("image/png", placeholder_png(8, 8))
    assert logo.data_uri.encode() in badge_svg("T", 3, "S", logo=logo).data


@pytest.mark.parametrize("uri", ["https://example.org/badge.png", "data:image/gif;base64,R0lGOD",
                                 "data:image/png;base64,not base64!"])
def test_only_embedded_png_jpeg_svg_images(uri: str) -> None:
    with pytest.raises(ContentError):
        image_from_data_uri(uri)


def test_the_generated_face_reaches_both_documents(ob3_validator: Any, shapes: rdflib.Graph) -> None:
    badge = badge_svg("Izrada web stranica", 4, "Tehnička škola Ruđera Boškovića")
    content = make_content(image=badge)
    vc = build_ob3(content)
    assert vc["credentialSubject"]["achievement"]["image"] == {"id": badge.data_uri, "type": "Image",
                                                               "caption": "Izrada web stranica"}
    assert list(ob3_validator.iter_errors(vc)) == []
    canonize(vc)  # the image is part of what is signed
    elm = build_elm(content)
    shown = elm["displayParameter"]["individualDisplay"][0]["displayDetail"][0]["image"]
    assert base64.b64decode(shown["content"]) == badge.data
    assert shown["contentType"]["id"] == "http://publications.europa.eu/resource/authority/file-type/SVG"
    conforms, report = elm_report(shapes, elm)
    assert conforms, report


def test_the_schools_png_reaches_both_documents(shapes: rdflib.Graph) -> None:
    png = Image("image/png", placeholder_png(16, 16), "Badge")
    elm = build_elm(make_content(image=png))
    shown = elm["displayParameter"]["individualDisplay"][0]["displayDetail"][0]["image"]
    assert shown["contentType"]["id"].endswith("/file-type/PNG") and base64.b64decode(shown["content"]) == png.data
    assert elm_report(shapes, elm)[0]
    assert build_ob3(make_content(image=png))["credentialSubject"]["achievement"]["image"]["id"] == png.data_uri


def _snapshot(**extra: Any) -> dict[str, Any]:
    return {"title": {"en": "Welding safety", "sl": "Varnost pri varjenju"}, "languages": ["sl", "en"],
            "eqf_level": "http://data.europa.eu/snb/eqf/3",
            "issuing_school": {"legal_name": {"en": "VET College", "hr": "Strukovna škola"}}, **extra}


def test_a_snapshot_gives_the_templates_image_or_a_badge_in_the_schools_brand() -> None:
    png = Image("image/png", placeholder_png(4, 4))
    assert credential_image(_snapshot(image=png.data_uri), Branding("#F2C94C")).data == png.data
    badge = credential_image(_snapshot(), Branding("#F2C94C", png))
    assert b'fill="#F2C94C"' in badge.data and "Varnost pri varjenju" in " ".join(_texts(badge))
    assert "EQF 3" in _texts(badge) and png.data_uri.encode() in badge.data
    assert b'fill="#1F4E79"' in credential_image(_snapshot()).data  # no brand: the default colour


class _School:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


def test_the_schools_brand_comes_from_the_admin_console_fields() -> None:
    png = placeholder_png(4, 4)
    assert branding_of(_School(brand_colour="#12ab34", logo=png, logo_type="image/png")) == Branding(
        "#12ab34", Image("image/png", png))
    # what the stylesheet would not take is not drawn either; an unknown logo type is left out
    assert branding_of(_School(brand_colour="red;}", logo=b"GIF89a", logo_type="image/gif")) == Branding()
    assert branding_of(None) == Branding()


def test_the_issuer_is_named_in_the_credentials_primary_language() -> None:
    # a Slovenian credential of a school without a Slovenian name: English, the next language it has
    assert issuer_name(_snapshot()) == "VET College"
    croatian = copy.deepcopy(_snapshot(languages=["hr", "en"]))
    assert issuer_name(croatian) == "Strukovna škola"
    assert build_ob3(make_content())["issuer"]["name"] == "Tehnička škola Ruđera Boškovića"
