"""What the page walk checks on every page, in every language:

- **English left in a non-English page.** The page's visible text nodes (and the accessible names in
  ``aria-label``, ``title``, ``placeholder``, ``alt``) are compared with the English msgids of our
  catalogue, extracted from the sources as ``pybabel extract`` does: a text that *is* a short msgid,
  or *contains* a msgid phrase of two words or more, is English we forgot to translate. Content that
  people supplied (names, course and credential titles, the mapping file) is marked with
  ``data-content="user"`` or ``translate="no"`` and left out, and so is ``<code>``; a msgid whose
  translation is the same word (``Credly``, ``Status`` in Croatian) is not a leftover.
- **Raw internal codes** in the visible text: evidence keys (``moodle_ws:…``), state names
  (``pending_approval``, any ``snake_case``), rule expressions (``>= 60%``) and unit or template
  codes of the mapping (those may appear only inside a closed "details" toggle or ``<code>``).
- **axe-core** (npm, pinned in tests/pages/axe/package-lock.json) injected into the page: no
  violation of any rule it runs by default (WCAG 2.x A/AA and best practices).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.support import Translations
from playwright.sync_api import Frame, Page

from credbridge.lti.i18n import TRANSLATIONS_DIR

LTI = Path(TRANSLATIONS_DIR).parent
AXE = Path(__file__).resolve().parents[1] / "axe" / "node_modules" / "axe-core" / "axe.min.js"
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")
#: content that is not ours to translate, and where codes are meant
OUT_OF_SCOPE = '[data-content="user"], [data-content="technical"], [translate="no"], script, style, noscript, ' \
               'textarea, code, pre'

VISIBLE_TEXT_JS = """(skip) => {
  const out = [];
  const shown = (el) => el.checkVisibility({checkOpacity: false, checkVisibilityCSS: true});
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    const text = node.textContent.replace(/\\s+/g, ' ').trim();
    if (!text || !el || el.closest(skip) || !shown(el)) continue;
    out.push(text);
  }
  for (const el of document.querySelectorAll('[aria-label], [title], [placeholder], [alt]')) {
    if (el.closest(skip)) continue;
    for (const name of ['aria-label', 'title', 'placeholder', 'alt']) {
      const value = (el.getAttribute(name) || '').trim();
      if (value) out.push(value);
    }
  }
  if (document.title) out.push(document.title);
  return out;
}"""


@cache
def english_msgids() -> frozenset[str]:
    """Every msgid of the pages, extracted from the sources (what ``pybabel extract`` puts in the .pot)."""
    method_map, options_map = parse_mapping_cfg(io.StringIO((LTI / "babel.cfg").read_text("utf-8")))
    found = {message if isinstance(message, str) else message[0]
             for _f, _l, message, _c, _ctx in extract_from_dir(str(LTI), method_map, options_map, keywords=KEYWORDS)}
    assert len(found) > 300, "the extraction found too little: is babel.cfg right?"
    return frozenset(m for m in found if m)


@dataclass(frozen=True)
class Leftovers:
    """The English phrases to look for in a page of ``locale``."""

    whole: frozenset[str]  # a text node that is exactly one of these is English
    phrases: tuple[str, ...]  # a text node that contains one of these is English

    def find(self, text: str) -> str | None:
        bare = text.strip().rstrip(":…").strip()
        if bare in self.whole:
            return bare
        return next((p for p in self.phrases if p in text), None)


@cache
def leftovers_for(locale: str) -> Leftovers:
    translations = Translations.load(str(TRANSLATIONS_DIR), [locale])
    whole: set[str] = set()
    phrases: set[str] = set()
    for msgid in english_msgids():
        if translations.gettext(msgid) == msgid:
            continue  # the same word in this language (a brand, "Status" in Croatian), or untranslated: see
            # test_translations, which fails on a missing translation
        for fragment in PLACEHOLDER.split(msgid):
            fragment = fragment.strip(" .,:;()—-…'\"")
            words = fragment.split()
            if len(words) >= 2 and len(fragment) >= 10:
                phrases.add(fragment)
            elif len(fragment) >= 4 and not PLACEHOLDER.search(msgid):
                whole.add(fragment)
    return Leftovers(frozenset(whole), tuple(sorted(phrases, key=len, reverse=True)))


#: (what it is, pattern) — codes a teacher, learner or administrator should never have to read
RAW_CODE_PATTERNS = (
    ("evidence key", re.compile(r"moodle_ws:")),
    ("approval state code", re.compile(r"\w+_approval")),
    ("rule expression", re.compile(r">=\s*\d+(?:[.,]\d+)?\s*%")),
    ("snake_case code", re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")),
)


#: state and target codes of the store that are also plain words: a text that is exactly one of them is a code
STATE_WORDS = frozenset({"pending", "sending", "sent", "failed", "dead", "issuing", "issued", "approved", "held",
                         "revoked", "flagged", "active", "disabled", "manual", "dynamic", "embedded", "edc",
                         "badgr", "webhook"})


def unit_code_pattern(codes: set[str]) -> re.Pattern[str]:
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(c) for c in sorted(codes, key=len, reverse=True))
                      + r")(?![\w-])")


@dataclass
class PageReport:
    name: str
    url: str
    english: list[tuple[str, str]] = field(default_factory=list)  # (text, msgid)
    codes: list[tuple[str, str]] = field(default_factory=list)  # (what, text)
    axe: list[str] = field(default_factory=list)
    wrong_lang: str | None = None

    @property
    def ok(self) -> bool:
        return not (self.english or self.codes or self.axe or self.wrong_lang)

    def __str__(self) -> str:
        lines = [f"{self.name} ({self.url}):"]
        if self.wrong_lang:
            lines.append(f"  <html lang> is {self.wrong_lang!r}")
        lines += [f"  English: {text!r} (msgid {msgid!r})" for text, msgid in self.english[:12]]
        lines += [f"  {what}: {text!r}" for what, text in self.codes[:12]]
        lines += [f"  axe: {v}" for v in self.axe]
        return "\n".join(lines)


@cache
def _axe_source() -> str:
    return AXE.read_text("utf-8")


def run_axe(target: Page | Frame) -> list[str]:
    """axe-core's violations on the page, one line each (rule, impact, where).

    axe is evaluated through the DevTools protocol rather than added as a ``<script>`` tag: the pages'
    Content-Security-Policy (``script-src 'self'``) rightly refuses inline scripts, and the walk runs
    with that policy on, as people get it.
    """
    if not target.evaluate("() => typeof window.axe !== 'undefined'"):
        target.evaluate(_axe_source() + "\n;0")
    result: dict[str, Any] = target.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return {violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                 nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))};
    }""")
    return [f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(v['nodes'])}" for v in result["violations"]]


def check_page(target: Page | Frame, name: str, locale: str, codes: re.Pattern[str] | None) -> PageReport:
    """Every check on the page as it is now shown."""
    report = PageReport(name, target.url)
    lang = target.evaluate("() => document.documentElement.lang")
    if lang.replace("-", "_") != locale:
        report.wrong_lang = lang
    texts: list[str] = target.evaluate(VISIBLE_TEXT_JS, OUT_OF_SCOPE)
    if locale != "en":
        leftovers = leftovers_for(locale)
        for text in texts:
            found = leftovers.find(text)
            if found:
                report.english.append((text, found))
    for text in texts:
        if text in STATE_WORDS:
            report.codes.append(("state code", text))
        for what, pattern in RAW_CODE_PATTERNS:
            if pattern.search(text):
                report.codes.append((what, text))
        if codes is not None and codes.search(text):
            report.codes.append(("unit or template code", text))
    report.axe = run_axe(target)
    return report
