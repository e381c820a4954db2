"""A credential's face: the image a school gives a template, or a generated badge.

A template's image comes from the mapping file as a ``data:`` URI (PNG, JPEG or SVG; the mappings
model checks it). Without one, :func:`badge_svg` draws an SVG badge: the title, the EQF level and
the issuing school's name on the school's brand colour, with its logo when it has one (both set in
the admin console, :class:`Branding`). SVG is text, so
the title keeps its diacritics (č, ć, đ…) without an imaging library or fonts on the server; the
viewer's fonts draw it. The same image goes into OB 3.0 (``achievement.image``) and ELM
(``displayParameter`` … ``image``) and onto every page that shows the credential.
"""

from __future__ import annotations

import base64
import binascii
import re
import textwrap
from dataclasses import dataclass
from xml.sax.saxutils import escape

from credbridge.connector.issuing.formats.errors import ContentError

MEDIA_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
_DATA_URI = re.compile(r"^data:(image/png|image/jpeg|image/svg\+xml);base64,([A-Za-z0-9+/]+={0,2})$")
_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
DEFAULT_COLOUR = "#1F4E79"
TITLE_LINE_CHARS = 20
TITLE_LINES = 4


@dataclass(frozen=True)
class Image:
    """An image carried inside the documents (never fetched from elsewhere)."""

    media_type: str  # one of MEDIA_TYPES
    data: bytes
    caption: str = ""

    @property
    def data_uri(self) -> str:
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"

    @property
    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")


@dataclass(frozen=True)
class Branding:
    """The school's brand colour (``#RRGGBB``) and logo, for the badges credbridge draws."""

    colour: str | None = None
    logo: Image | None = None


def image_from_data_uri(uri: str, caption: str = "") -> Image:
    match = _DATA_URI.match(uri or "")
    if not match:
        raise ContentError("an image must be a base64 data: URI of a PNG, JPEG or SVG image")
    try:
        data = base64.b64decode(match.group(2), validate=True)
    except binascii.Error as error:
        raise ContentError(f"the image's base64 is invalid: {error}") from error
    return Image(match.group(1), data, caption)


def _text_colour(background: str) -> str:
    """White on dark colours, near-black on light ones (WCAG relative luminance)."""
    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(background[i:i + 2]) for i in (1, 3, 5))
    return "#111111" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.35 else "#FFFFFF"


def _initials(name: str) -> str:
    """'Strukovna škola strojarstva' -> 'SŠS' (words of three letters or more, at most three)."""
    words = [w for w in re.split(r"\W+", name) if len(w) > 2] or name.split() or ["?"]
    return "".join(w[0] for w in words[:3]).upper()


def _lines(title: str) -> list[str]:
    lines = textwrap.wrap(title, TITLE_LINE_CHARS, break_long_words=True) or [title]
    if len(lines) > TITLE_LINES:
        lines = [*lines[:TITLE_LINES - 1], textwrap.shorten(" ".join(lines[TITLE_LINES - 1:]), TITLE_LINE_CHARS,
                                                              placeholder="…")]
    return lines


def badge_svg(title: str, eqf_level: int, issuer: str, colour: str | None = None, logo: Image | None = None) -> Image:
    """An SVG badge (400 × 400) of a credential; deterministic for the same inputs."""
    colour = colour if colour and _COLOUR.match(colour) else DEFAULT_COLOUR
    ink = _text_colour(colour)
    font = 'font-family="DejaVu Sans, Verdana, Arial, sans-serif" text-anchor="middle"'
    lines = _lines(title)
    top = 200 - (len(lines) - 1) * 17
    title_text = "".join(f'<text x="200" y="{top + i * 34}" {font} font-size="26" font-weight="bold" '
                         f'fill="{ink}">{escape(line)}</text>' for i, line in enumerate(lines))
    if logo is not None:
        mark = (f'<image href="{logo.data_uri}" x="160" y="40" width="80" height="80" '
                'preserveAspectRatio="xMidYMid meet"/>')
    else:
        mark = (f'<circle cx="200" cy="80" r="40" fill="{ink}" fill-opacity="0.18"/>'
                f'<text x="200" y="92" {font} font-size="30" font-weight="bold" fill="{ink}">'
                f'{escape(_initials(issuer))}</text>')
    issuer_line = textwrap.shorten(issuer, 44, placeholder="…")
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 400" width="400" height="400" role="img" '
        f'aria-label="{escape(title, {chr(34): "&quot;"})}">'
        f"<title>{escape(title)}</title>"
        f'<rect x="6" y="6" width="388" height="388" rx="56" fill="{colour}"/>'
        f'<rect x="22" y="22" width="356" height="356" rx="44" fill="none" stroke="{ink}" stroke-opacity="0.45" '
        'stroke-width="3"/>'
        f"{mark}{title_text}"
        f'<rect x="140" y="296" width="120" height="40" rx="20" fill="{ink}" fill-opacity="0.18"/>'
        f'<text x="200" y="324" {font} font-size="22" font-weight="bold" fill="{ink}">EQF {int(eqf_level)}</text>'
        f'<text x="200" y="362" {font} font-size="15" fill="{ink}" fill-opacity="0.9">{escape(issuer_line)}</text>'
        "</svg>"
    )
    return Image("image/svg+xml", svg.encode("utf-8"), title)
