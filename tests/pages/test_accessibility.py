"""What can be checked without a person: contrast of the colours the pages use, labels on every form
field, a skip link, charts with text alternatives that escape their labels."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from credbridge.lti.pages import STATIC, charts
from tests.pages.conftest import Env

CSS = (STATIC / "pages" / "pages.css").read_text("utf-8")


def _luminance(hex_colour: str) -> float:
    value = hex_colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    channels = [int(value[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_badges_have_at_least_4_5_to_1_with_their_white_text() -> None:
    badges = dict(re.findall(r"\.(state-\w+|check-\w+) \{ background: (#[0-9a-fA-F]{3,6}); \}", CSS))
    assert len(badges) >= 13
    weak = {name: round(contrast(colour, "#ffffff"), 2) for name, colour in badges.items()
            if contrast(colour, "#ffffff") < 4.5}
    assert not weak, weak


@pytest.mark.parametrize(("foreground", "background"), [
    ("#1d2125", "#ffffff"), ("#1d2125", "#f8f9fa"), ("#545b62", "#ffffff"), ("#0f6cbf", "#ffffff"),
    ("#0f6cbf", "#f8f9fa"), ("#ffffff", "#0f6cbf"), ("#1c3f1a", "#d7e6d6"), ("#69190f", "#f4d6d2"),
    ("#5c3404", "#fcefdc"), ("#083863", "#cfe2f2"), ("#1d2125", "#ced4da"),
])
def test_text_colours_of_the_theme(foreground: str, background: str) -> None:
    def used(colour: str) -> bool:
        short = "#" + colour[1::2] if all(colour[i] == colour[i + 1] for i in (1, 3, 5)) else None
        return colour in CSS.lower() or (short is not None and re.search(short + r"\b", CSS.lower()) is not None)

    assert used(foreground) and used(background), "the pair is not in the stylesheet any more"
    assert contrast(foreground, background) >= 4.5


def test_focus_is_visible() -> None:
    assert re.search(r":focus-visible \{ outline: 3px solid", CSS)


class _Fields(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.unlabelled: list[str] = []
        self.labels: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label" and a.get("for"):
            self.labels.add(a["for"] or "")
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            if a.get("aria-label"):
                return
            self.ids.append(a.get("id") or f"<{tag} name={a.get('name')}>")


@pytest.mark.parametrize("who_path", [
    ("teacher", "/teacher/course/2"), ("learner", "/learner/"), ("admin", "/admin/"),
    ("admin", "/admin/connections"), ("admin", "/admin/registrations"), ("admin", "/admin/mappings/edit"),
])
def test_every_field_has_a_label_and_the_page_a_skip_link(env: Env, who_path: tuple[str, str]) -> None:
    who, path = who_path
    client = {"teacher": env.teacher, "admin": env.admin,
              "learner": lambda: env.learner(env.world.learner_full)}[who]()
    html = client.get(path).get_data(as_text=True)
    parser = _Fields()
    parser.feed(html)
    missing = [i for i in parser.ids if i not in parser.labels]
    assert not missing, f"{path}: fields without a label: {missing}"
    assert 'class="skip-link" href="#main"' in html and 'id="main"' in html


def test_charts_escape_labels_and_carry_title_and_description() -> None:
    svg = charts.stacked_bars([("<script>x</script>", {"issued": 2, "in_progress": 1})],
                              {"issued": "Issued", "in_progress": "In progress"}, title="T <b>", description="D")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "<title" in svg and "<desc" in svg and 'role="img"' in svg
    weeks = [(datetime(2026, 11, 2, tzinfo=UTC), 3), (datetime(2026, 11, 9, tzinfo=UTC), 0)]
    bars = charts.weekly_bars(weeks, {weeks[0][0]: "2 Nov"}, title="Issued", description="per week")
    assert bars.count("<rect") == 2 and ">3<" in bars
