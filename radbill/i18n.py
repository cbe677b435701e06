"""Translations: one current locale per request or job (a context variable), gettext catalogs per locale.

Foundation only (issue 14 item 3 builds the catalogs, extraction and per-login choice on it). Every user-visible
string is marked with `_()` (Python) or `{{ _("...") }}` / `{% trans %}` (templates, jinja2.ext.i18n newstyle).
Strings that are defined at import time (module constants) use `lazy_gettext` so they translate when shown.
With no catalog for a locale, a message shows as written (English).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCALES = ("en", "bn")
DEFAULT_LOCALE = "en"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("radbill_locale", default=DEFAULT_LOCALE)
# the operator's choice to show numbers in Bengali digits (only ever applied when the locale is bn)
_bengali_digits: contextvars.ContextVar[bool] = contextvars.ContextVar("radbill_bengali_digits", default=False)
# locale -> {msgid: msgstr} (plural forms: msgid -> tuple of msgstr); filled by load_catalogs()
_catalogs: dict[str, dict] = {}


LOCALE_DIR = Path(__file__).resolve().parent / "locale"


def load_catalogs(directory: Path = LOCALE_DIR) -> dict[str, dict]:
    """Read every radbill/locale/<locale>/LC_MESSAGES/*.po (templates.po, python.po, ...) into one table per
    locale. Plain .po files are read at start (no compiled .mo in the tree); an empty msgstr is no translation."""
    from babel.messages.pofile import read_po

    _catalogs.clear()
    for locale in LOCALES:
        table: dict = {}
        for po in sorted((directory / locale / "LC_MESSAGES").glob("*.po")):
            with po.open("rb") as f:
                for message in read_po(f, locale=locale):
                    if not message.id or not message.string:
                        continue
                    if isinstance(message.id, tuple):  # plural: key by the singular
                        if all(message.string):
                            table[message.id[0]] = tuple(message.string)
                    else:
                        table[message.id] = message.string
        _catalogs[locale] = table
    return _catalogs


def current_locale() -> str:
    return _current.get()


def bengali_digits() -> bool:
    """Whether numbers show in Bengali digits now: the operator chose them and the locale is bn."""
    return _bengali_digits.get() and _current.get() == "bn"


def set_locale(locale: str | None, bengali_digits: bool = False) -> contextvars.Token:
    """Set the locale for the rest of this request or job (the digits preference goes with it)."""
    _bengali_digits.set(bool(bengali_digits))
    return _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)


@contextmanager
def use_locale(locale: str | None, bengali_digits: bool = False) -> Iterator[None]:
    digits_token = _bengali_digits.set(bool(bengali_digits))
    token = _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)
    try:
        yield
    finally:
        _current.reset(token)
        _bengali_digits.reset(digits_token)


def negotiate(accept_language: str | None) -> str:
    """The best of LOCALES for an Accept-Language header (the login page, before anyone is known)."""
    from babel import Locale, UnknownLocaleError

    preferred = []
    for part in (accept_language or "").split(","):
        tag, _sep, params = part.strip().partition(";")
        try:
            quality = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            quality = 0.0
        if tag and quality > 0:
            preferred.append((quality, tag.strip()))
    for _quality, tag in sorted(preferred, key=lambda item: -item[0]):
        try:
            language = Locale.parse(tag.replace("-", "_")).language
        except (ValueError, UnknownLocaleError):
            continue
        if language in LOCALES:
            return language
    return DEFAULT_LOCALE


LANGUAGE_NAMES = {"en": "English", "bn": "বাংলা"}  # each language named in itself, so anyone can find theirs


def gettext(message: str, **variables) -> str:
    translated = _catalogs.get(_current.get(), {}).get(message) or message
    if isinstance(translated, tuple):
        translated = translated[0]
    return translated % variables if variables else translated


def plural_form(singular: str, plural: str, n: int) -> str:
    """The translated form for `n`, not yet formatted (jinja's newstyle ngettext formats it, escaping values)."""
    forms = _catalogs.get(_current.get(), {}).get(singular)
    if isinstance(forms, tuple) and forms:
        return forms[0] if len(forms) == 1 else forms[0 if n == 1 else 1]
    return singular if n == 1 else plural


def ngettext(singular: str, plural: str, n: int, **variables) -> str:
    variables.setdefault("num", n)
    return plural_form(singular, plural, n) % variables


class LazyString(str):
    """A message translated when it is turned into text, in the locale current at that moment."""

    __slots__ = ("_message",)

    def __new__(cls, message: str):
        instance = super().__new__(cls, message)
        instance._message = message
        return instance

    def __str__(self) -> str:
        return gettext(self._message)

    def __html__(self) -> str:  # jinja2 autoescape
        from markupsafe import escape
        return str(escape(str(self)))


def lazy_gettext(message: str) -> LazyString:
    return LazyString(message)


_ = gettext
