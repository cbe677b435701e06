"""Translations are complete and current, templates mark every visible string, and formatting follows the locale."""

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from admin.app import jinja_environment
from radbill import catalogs, i18n, localize
from tests.i18n_lint import untranslated

TEMPLATES = sorted((catalogs.ROOT / "admin" / "templates").glob("*.html"))


def msgids(pot: Path) -> set:
    with pot.open("rb") as f:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}


def present_domains() -> list[str]:
    return [d for d in catalogs.DOMAINS if (catalogs.LOCALE_DIR / f"{d}.pot").exists()]


def test_the_template_catalog_exists():
    assert "templates" in present_domains()


@pytest.mark.parametrize("domain", present_domains())
def test_every_message_has_a_bangla_translation(domain):
    table = i18n.load_catalogs()["bn"]
    missing = sorted(m for m in msgids(catalogs.LOCALE_DIR / f"{domain}.pot") if m not in table)
    assert not missing, f"{len(missing)} messages of {domain}.pot lack a bn translation (make messages, then " \
                        f"translate radbill/locale/bn/LC_MESSAGES/{domain}.po): {missing[:10]}"


@pytest.mark.parametrize("domain", present_domains())
def test_the_committed_pot_is_current(domain, tmp_path):
    fresh = msgids(catalogs.extract(domain, tmp_path / f"{domain}.pot"))
    committed = msgids(catalogs.LOCALE_DIR / f"{domain}.pot")
    assert fresh == committed, f"radbill/locale/{domain}.pot is stale: run `make messages` " \
                               f"(new: {sorted(fresh - committed)[:5]}, gone: {sorted(committed - fresh)[:5]})"


def test_translations_keep_their_placeholders_and_markup():
    """A translation that loses a %(name)s breaks the page (KeyError); one that changes a tag breaks its HTML."""
    def kept(text: str) -> list[str]:
        return sorted(re.findall(r"%\(\w+\)s|%%|<[^>]*>", text))

    with (catalogs.LOCALE_DIR / "bn" / "LC_MESSAGES" / "templates.po").open("rb") as f:
        messages = [m for m in read_po(f) if m.id and m.string]
    wrong = [m.id for m in messages if isinstance(m.id, str) and kept(m.id) != kept(m.string)]
    wrong += [m.id for m in messages if isinstance(m.id, tuple)  # each plural form keeps the singular's
              and any(kept(form) != kept(m.id[0]) for form in (*m.id, *m.string))]
    assert messages and not wrong


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_template_text_is_marked_for_translation(template):
    assert untranslated(template, jinja_environment()) == []


@pytest.mark.parametrize("source, found", [
    ('<p>Hello there</p>', ["Hello there"]),
    ('<input placeholder="Search here">', ["Search here"]),
    ('<a title="{{ x }} more">{{ _("Go") }}</a>', ["{…} more"]),
    ('{{ field("name", "Name", form, errors) }}', ["Name"]),
    ('{{ "Paid" if x else _("Open") }}', ["Paid"]),
    ('{{ _("Hi %(w)s", w="wide world") }}', ["wide world"]),
    ('<p>{{ _("Hello") }} · radbill — PPPoE</p>{% trans %}Plain words{% endtrans %}', []),
    ('<script>var a = "some words";</script><b class="on">{{ n }}</b>', []),
])
def test_the_lint_finds_unmarked_text(tmp_path, source, found):
    template = tmp_path / "t.html"
    template.write_text(source)
    assert untranslated(template, jinja_environment()) == found


@pytest.mark.parametrize("locale, digits, expected", [
    ("en", False, "BDT 1,234.50"), ("en", True, "BDT 1,234.50"),  # the digits option is for Bangla only
    ("bn", False, "৳1,234.50"), ("bn", True, "৳১,২৩৪.৫০"),
])
def test_money_per_locale_and_digits(locale, digits, expected):
    with i18n.use_locale(locale, digits):
        assert localize.money(123450, "BDT") == expected


def test_money_keeps_the_currency_rule_and_the_sign():
    with i18n.use_locale("bn", True):
        assert localize.money(-5, "BDT") == "-৳০.০৫"
        assert localize.money(123450, "JPY") == "JPY ১২৩,৪৫০"  # no taka sign for yen, no decimals
        assert localize.money(None) == "৳০.০০"
    with i18n.use_locale("bn"):
        assert localize.money(-5, "BDT") == "-৳0.05"


def test_dates_and_numbers_per_locale():
    moment = datetime(2026, 11, 26, 20, 5, tzinfo=UTC)  # 27 November 02:05 in Dhaka
    with i18n.use_locale("en"):
        assert localize.localtime(moment, "Asia/Dhaka") == "2026-11-27 02:05"
        assert localize.long_date(moment, "Asia/Dhaka") == "27 November 2026"
        assert localize.number(1234567) == "1,234,567"
        assert localize.day_month(date(2026, 10, 30)) == "30 Oct"
    with i18n.use_locale("bn"):
        assert localize.long_date(date(2026, 11, 27)) == "27 নভেম্বর 2026"
        assert localize.month(date(2026, 2, 1)) == "ফেব্রুয়ারি 2026"
        assert localize.day_month(date(2026, 2, 3)) == "03 ফেব"
    with i18n.use_locale("bn", True):
        assert localize.localtime(moment, "Asia/Dhaka") == "২০২৬-১১-২৭ ০২:০৫"
        assert localize.long_date(date(2026, 11, 27)) == "২৭ নভেম্বর ২০২৬"
        assert localize.number(1234567) == "১,২৩৪,৫৬৭"
        assert localize.day_month(date(2026, 10, 30)) == "৩০ অক্টো"
    assert localize.localtime(None) == "—"


def test_the_locale_and_digits_are_restored_after_use():
    with i18n.use_locale("bn", True):
        with i18n.use_locale("en"):
            assert not i18n.bengali_digits()
        assert i18n.current_locale() == "bn" and i18n.bengali_digits()
    assert i18n.current_locale() == "en" and not i18n.bengali_digits()


@pytest.mark.parametrize("header, locale", [
    ("bn-BD,bn;q=0.9,en;q=0.8", "bn"), ("en-US,en;q=0.9,bn;q=0.8", "en"), ("fr-FR,bn;q=0.5", "bn"),
    ("fr", "en"), ("", "en"), (None, "en"), ("bn;q=0", "en"), ("bn;q=abc,en", "en"), ("*", "en"),
])
def test_accept_language_picks_a_locale(header, locale):
    assert i18n.negotiate(header) == locale


def test_plural_forms_in_templates():
    i18n.load_catalogs()
    template = jinja_environment().from_string(
        '{{ ngettext("%(num)s payment", "%(num)s payments", n, num=n | number) }}')
    assert [template.render(n=n) for n in (1, 2)] == ["1 payment", "2 payments"]
    with i18n.use_locale("bn", True):
        assert template.render(n=12) == "১২টি পেমেন্ট"
    assert i18n.ngettext("%(num)s payment", "%(num)s payments", 3) == "3 payments"


def test_templates_render_bangla_from_the_catalog():
    i18n.load_catalogs()
    template = jinja_environment().from_string('{{ _("Save") }} · {{ _("Invoice #%(id)s", id="<b>") }}')
    with i18n.use_locale("bn"):
        assert template.render() == "সংরক্ষণ করুন · ইনভয়েস #&lt;b&gt;"  # a variable is still escaped
    assert template.render() == "Save · Invoice #&lt;b&gt;"
