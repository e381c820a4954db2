"""Translations of the web pages (Flask-Babel): English, Slovenian, Croatian, Serbian (Latin), Bosnian.

The language follows the LTI launch (``launch_presentation.locale``, kept on the LaunchSession), then
the browser's Accept-Language. The ``.po`` catalogues are committed; their ``.mo`` files are compiled
from them with babel's own API when missing or older, so a fresh checkout works without a build step.
"""

from __future__ import annotations

import logging
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, request
from flask_babel import Babel, get_locale

log = logging.getLogger(__name__)

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
DEFAULT_LOCALE = "en"
#: the languages the pages are written in, as Babel locale identifiers
SUPPORTED_LOCALES = ("en", "sl", "hr", "sr_Latn", "bs")
LANGUAGE_NAMES = {"en": "English", "sl": "Slovenščina", "hr": "Hrvatski", "sr_Latn": "Srpski", "bs": "Bosanski"}


def normalise_locale(tag: str | None) -> str | None:
    """An LTI/BCP 47 tag (``hr-HR``, ``sr-Latn-RS``, ``sr_RS``, ``bs``) to one of ours, or None."""
    if not tag:
        return None
    parts = tag.replace("_", "-").split("-")
    language = parts[0].lower()
    if language == "sr":
        # Serbian in Cyrillic is not offered; Latin script is what the schools use in the LMS
        return "sr_Latn"
    return language if language in SUPPORTED_LOCALES else None


def compile_catalogues(directory: Path = TRANSLATIONS_DIR, *, force: bool = False) -> list[Path]:
    """Write ``messages.mo`` next to every ``messages.po`` that is newer (or has none)."""
    written = []
    for po_path in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        mo_path = po_path.with_suffix(".mo")
        if not force and mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        locale = po_path.parent.parent.name
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        try:
            with mo_path.open("wb") as handle:
                write_mo(handle, catalog, use_fuzzy=False)
        except OSError as error:  # a read-only install: pages fall back to English, say why once
            log.warning("cannot write %s: %s", mo_path, error)
            continue
        written.append(mo_path)
    return written


def select_locale() -> str:
    """LaunchSession.locale, then Accept-Language, then English."""
    from credbridge.lti.auth import current_session  # the auth module needs an app context

    explicit = normalise_locale(request.args.get("lang")) if request else None
    if explicit:
        return explicit
    try:
        session = current_session()
    except Exception:  # no database configured (e.g. a bare error page): fall back to the browser
        session = None
    from_launch = normalise_locale(session.locale) if session is not None else None
    if from_launch:
        return from_launch
    for tag, _quality in request.accept_languages:
        found = normalise_locale(tag)
        if found:
            return found
    return DEFAULT_LOCALE


def init_i18n(app: Flask) -> Babel:
    compile_catalogues()
    # the page's lang attribute (screen readers pronounce by it)
    app.jinja_env.globals["cb_locale"] = lambda: str(get_locale() or DEFAULT_LOCALE)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS_DIR)
    existing = app.extensions.get("babel")
    if existing is not None:
        # someone set up Babel already: point it at our catalogues and locale selector
        existing.translation_directories = [str(TRANSLATIONS_DIR)]
        existing.locale_selector = select_locale
        return existing.instance
    return Babel(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS_DIR))
