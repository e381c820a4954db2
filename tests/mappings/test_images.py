"""A template's image in a mapping file: embedded images only, checked at their line."""

from __future__ import annotations

import base64

import pytest

from credbridge.mappings import MappingError, load_mapping_text
from credbridge.mappings.loader import dump_mapping, json_schema
from tests.mappings.helpers import EXAMPLES

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle r="4"/></svg>'


def _uri(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def _example(template_extra: str = "") -> str:
    text = (EXAMPLES / "vet-college.yaml").read_text("utf-8")
    anchor = "  - code: CNC-OPERATOR\n    version: 1\n"
    return text.replace(anchor, anchor + template_extra)


@pytest.mark.parametrize(("media_type", "data"), [("image/png", PNG), ("image/svg+xml", SVG),
                                                  ("image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 16)])
def test_an_image_loads_and_round_trips(media_type: str, data: bytes) -> None:
    ms = load_mapping_text(_example(f"    image: {_uri(media_type, data)}\n"), "school.yaml")
    assert ms.template("CNC-OPERATOR").image == _uri(media_type, data)
    assert ms.template("TD-BASICS").image is None  # it gets a generated badge
    assert load_mapping_text(dump_mapping(ms), "again.yaml").model_dump() == ms.model_dump()


@pytest.mark.parametrize(("value", "problem"), [
    ("https://school.example/badge.png", "data: URI of a PNG, JPEG or SVG"),
    (_uri("image/png", b"\xff\xd8\xff" + b"\x00" * 8), "not a PNG file"),
    (_uri("image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
     "may not contain scripts"),
    (_uri("image/svg+xml", b'<svg onload="alert(1)"/>'), "may not contain scripts"),
    (_uri("image/png", PNG + b"\x00" * 300_000), "at most 262,144"),
    ("data:image/png;base64,!!!", "data: URI of a PNG"),
])
def test_a_bad_image_is_named_at_its_line(value: str, problem: str) -> None:
    with pytest.raises(MappingError) as info:
        load_mapping_text(_example(f"    image: {value}\n"), "school.yaml")
    found = info.value.problems[0]
    assert problem in found.message and "image" in found.message
    lines = _example(f"    image: {value}\n").splitlines()
    assert lines[found.line - 1].strip().startswith("image:")


def test_the_editor_schema_describes_images() -> None:
    template = json_schema()["$defs"]["Template"]["properties"]["image"]
    assert "PNG, JPEG or SVG" in str(template)
