"""EU Publications Office authority codes for countries and languages (ELM uses these URIs).

Hand-written because no maintained Python package maps ISO codes to the EU authority tables, and the
set a school issuer needs (EU/EEA/candidate countries, EU official languages) is small and stable.
"""

from __future__ import annotations

import functools

from babel import Locale

from credbridge.connector.issuing.formats.errors import ContentError

COUNTRY_SCHEME = "http://publications.europa.eu/resource/authority/country"
LANGUAGE_SCHEME = "http://publications.europa.eu/resource/authority/language"

# ISO 3166-1 alpha-2 -> (EU authority code, English name)
COUNTRIES: dict[str, tuple[str, str]] = {
    "AT": ("AUT", "Austria"), "BE": ("BEL", "Belgium"), "BG": ("BGR", "Bulgaria"),
    "HR": ("HRV", "Croatia"), "CY": ("CYP", "Cyprus"), "CZ": ("CZE", "Czechia"),
    "DK": ("DNK", "Denmark"), "EE": ("EST", "Estonia"), "FI": ("FIN", "Finland"),
    "FR": ("FRA", "France"), "DE": ("DEU", "Germany"), "GR": ("GRC", "Greece"),
    "HU": ("HUN", "Hungary"), "IE": ("IRL", "Ireland"), "IT": ("ITA", "Italy"),
    "LV": ("LVA", "Latvia"), "LT": ("LTU", "Lithuania"), "LU": ("LUX", "Luxembourg"),
    "MT": ("MLT", "Malta"), "NL": ("NLD", "Netherlands"), "PL": ("POL", "Poland"),
    "PT": ("PRT", "Portugal"), "RO": ("ROU", "Romania"), "SK": ("SVK", "Slovakia"),
    "SI": ("SVN", "Slovenia"), "ES": ("ESP", "Spain"), "SE": ("SWE", "Sweden"),
    "IS": ("ISL", "Iceland"), "LI": ("LIE", "Liechtenstein"), "NO": ("NOR", "Norway"),
    "CH": ("CHE", "Switzerland"), "AL": ("ALB", "Albania"), "BA": ("BIH", "Bosnia and Herzegovina"),
    "ME": ("MNE", "Montenegro"), "MK": ("MKD", "North Macedonia"), "RS": ("SRB", "Serbia"),
    "TR": ("TUR", "Türkiye"), "UA": ("UKR", "Ukraine"), "MD": ("MDA", "Moldova"),
    "GE": ("GEO", "Georgia"), "XK": ("XKX", "Kosovo"), "GB": ("GBR", "United Kingdom"),
}

# ISO 639-1 -> (EU authority code, English name): the 24 EU official languages and a few more.
LANGUAGES: dict[str, tuple[str, str]] = {
    "bg": ("BUL", "Bulgarian"), "hr": ("HRV", "Croatian"), "cs": ("CES", "Czech"),
    "da": ("DAN", "Danish"), "nl": ("NLD", "Dutch"), "en": ("ENG", "English"),
    "et": ("EST", "Estonian"), "fi": ("FIN", "Finnish"), "fr": ("FRA", "French"),
    "de": ("DEU", "German"), "el": ("ELL", "Greek"), "hu": ("HUN", "Hungarian"),
    "ga": ("GLE", "Irish"), "it": ("ITA", "Italian"), "lv": ("LAV", "Latvian"),
    "lt": ("LIT", "Lithuanian"), "mt": ("MLT", "Maltese"), "pl": ("POL", "Polish"),
    "pt": ("POR", "Portuguese"), "ro": ("RON", "Romanian"), "sk": ("SLK", "Slovak"),
    "sl": ("SLV", "Slovenian"), "es": ("SPA", "Spanish"), "sv": ("SWE", "Swedish"),
    "sr": ("SRP", "Serbian"), "bs": ("BOS", "Bosnian"), "mk": ("MKD", "Macedonian"),
    "sq": ("SQI", "Albanian"), "no": ("NOR", "Norwegian"), "is": ("ISL", "Icelandic"),
    "tr": ("TUR", "Turkish"), "uk": ("UKR", "Ukrainian"),
}


#: two-letter CLDR region codes that name no country (unknown, pseudo-locales, groupings)
_NOT_COUNTRIES = frozenset({"ZZ", "EU", "EZ", "QO", "UN", "XA", "XB"})


@functools.cache
def _country_codes() -> frozenset[str]:
    return frozenset(code for code in Locale("en").territories
                     if len(code) == 2 and code.isascii() and code.isalpha() and code not in _NOT_COUNTRIES)


def is_country_code(code: str) -> bool:
    """Whether ``code`` is a country's ISO 3166-1 alpha-2 code (CLDR's list as Babel ships it, with XK
    for Kosovo): ``ZZ``, ``ÄÖ`` or ``EU`` are not, and would be signed into credentials as the issuer's
    country."""
    return code in _country_codes()


def country(alpha2: str) -> tuple[str, str]:
    """(URI, English name) of a country, e.g. ``HR`` -> ``.../country/HRV``."""
    try:
        code, name = COUNTRIES[alpha2.upper()]
    except KeyError:
        raise ContentError(f"country {alpha2!r} has no EU authority code in credbridge's table") from None
    return f"{COUNTRY_SCHEME}/{code}", name


def language(iso639_1: str) -> tuple[str, str]:
    try:
        code, name = LANGUAGES[iso639_1.lower()]
    except KeyError:
        raise ContentError(f"language {iso639_1!r} has no EU authority code in credbridge's table") from None
    return f"{LANGUAGE_SCHEME}/{code}", name
