"""The gettext catalogs: every message the code marks has a Bangla translation that keeps its placeholders, and
representative messages (a form error, a timeline sentence, an alert, a default SMS) come out in Bangla."""

from __future__ import annotations

import ast
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from radbill import i18n
from radbill.billing.money import parse_amount
from radbill.customer_forms import parse_form
from radbill.errors import ValidationError, validation_error_from_database
from radbill.i18n import use_locale
from radbill.policy import state_label
from radbill.services import outbox, sms, sms_config
from radbill.services.outbox import DispatchSettings, Outcome, RetryPolicy
from radbill.services.recipient_locale import operator_locale
from radbill.sms.text import DEFAULT_TEMPLATES, PLACEHOLDERS, default_template, render
from radbill.tenancy import Scope
from radbill.timeline import describe, sentences
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "radbill" / "locale"
BN_CATALOGS = sorted((LOCALE_DIR / "bn" / "LC_MESSAGES").glob("*.po"))  # python.po, templates.po, ...
# the same keywords as the extraction (README.md, "Translations of the Python-side messages"; babel-python.cfg)
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}
PERCENT = re.compile(r"%\((\w+)\)[sd]")
BRACES = re.compile(r"\{(\w+)\}")  # SMS template and gateway placeholders, filled by radbill, not by gettext
BENGALI = re.compile(r"[\u0980-\u09FF]")


def _messages(po: Path):
    with po.open("rb") as f:
        return [m for m in read_po(f, locale="bn") if m.id]


def _ids(message) -> list[str]:
    return list(message.id) if isinstance(message.id, tuple) else [message.id]


def _strings(message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple) else [message.string]


def _placeholders(text: str) -> tuple[set[str], set[str]]:
    return set(PERCENT.findall(text)), set(BRACES.findall(text))


@pytest.fixture(scope="module")
def catalogs():
    return i18n.load_catalogs()


@pytest.fixture
def bangla(catalogs):
    with use_locale("bn"):
        yield


def test_every_marked_string_in_the_code_has_a_bangla_translation():
    """Extracted from the source now, so a new `_("...")` without a catalog entry fails here."""
    marked = set()
    for package in ("radbill", "admin", "scheduler"):
        # babel-python.cfg's rules: documents.py (the PDFs) belongs to the templates catalog
        for _filename, _line, message, _comments, _context in extract_from_dir(
                ROOT / package, method_map=[("documents.py", "ignore"), ("**.py", "python")], keywords=KEYWORDS):
            marked.add(message[0] if isinstance(message, tuple) else message)
    translated = {m.id[0] if isinstance(m.id, tuple) else m.id: m for m in _messages(
        LOCALE_DIR / "bn" / "LC_MESSAGES" / "python.po")}
    missing = sorted(m for m in marked if m not in translated or not all(_strings(translated[m]))
                     or translated[m].fuzzy)
    assert not missing, "no Bangla translation (run the extraction in README.md, then translate):\n" + "\n".join(
        missing)


# gettext(message, **variables) and ngettext(singular, plural, n, **variables): a placeholder with one of these
# names is a TypeError at the moment the message is shown (a 500 on the page), in any language
RESERVED = {"_": {"message"}, "gettext": {"message"}, "ngettext": {"singular", "plural", "n"}}


def test_no_placeholder_is_named_like_a_gettext_argument():
    clashes = []
    for package in ("radbill", "admin", "scheduler"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in RESERVED:
                    bad = {k.arg for k in node.keywords} & RESERVED[node.func.id]
                    if bad:
                        clashes.append(f"{path.relative_to(ROOT)}:{node.lineno}: {sorted(bad)}")
    assert not clashes, "rename these placeholders:\n" + "\n".join(clashes)


def test_every_call_fills_exactly_the_placeholders_of_its_message():
    """`_("... %(name)s", name=...)`: a missing value shows "%(name)s" to the reader, an extra one is a typo."""
    wrong = []
    for package in ("radbill", "admin", "scheduler"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in RESERVED
                        and node.args and isinstance(node.args[0], ast.Constant)):
                    continue
                if any(k.arg is None for k in node.keywords):  # **names: checked where the dict is built
                    continue
                given = {k.arg for k in node.keywords} | ({"num"} if node.func.id == "ngettext" else set())
                wanted = set(PERCENT.findall(node.args[0].value))
                if node.func.id == "ngettext" and isinstance(node.args[1], ast.Constant):
                    wanted |= set(PERCENT.findall(node.args[1].value))
                if given != wanted and not (node.func.id == "ngettext" and given - {"num"} == wanted - {"num"}):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: {sorted(given)} != {sorted(wanted)}")
    assert not wrong, "\n".join(wrong)


def test_the_template_file_lists_the_same_messages_as_the_catalog():
    with (LOCALE_DIR / "python.pot").open("rb") as f:
        template = {m.id[0] if isinstance(m.id, tuple) else m.id for m in read_po(f) if m.id}
    catalog = {m.id[0] if isinstance(m.id, tuple) else m.id for m in _messages(
        LOCALE_DIR / "bn" / "LC_MESSAGES" / "python.po")}
    assert template and template == catalog


@pytest.mark.parametrize("po", BN_CATALOGS, ids=lambda p: p.name)
def test_every_translation_keeps_its_placeholders(po):
    wrong = []
    for message in _messages(po):
        expected = _placeholders(_ids(message)[-1])
        for text in _strings(message):
            if not text:
                wrong.append(f"{_ids(message)[0]!r}: empty")
            elif _placeholders(text) != expected and not (  # a plural may leave %(num)s out of the singular
                    isinstance(message.id, tuple) and _placeholders(text)[0] | {"num"} == expected[0] | {"num"}):
                wrong.append(f"{_ids(message)[0]!r}: {_placeholders(text)} != {expected}")
    assert not wrong, f"{po.name}:\n" + "\n".join(wrong)


def test_the_placeholder_check_catches_a_lost_placeholder():
    assert _placeholders("%(name)s was suspended") != _placeholders("স্থগিত করা হয়েছে")
    assert _placeholders("Dear {customer_name}") != _placeholders("প্রিয় গ্রাহক")


def test_a_form_error_comes_out_in_bangla_with_its_values(bangla):
    parsed = parse_form({"name": "", "mobile": "12345", "username": "rahim01", "connection_type": "pppoe",
                         "package_id": "1", "billing_profile_id": "1"}, "BDT", creating=True)
    assert parsed.errors["name"] == "গ্রাহকের নাম লিখুন।"
    assert BENGALI.search(parsed.errors["mobile"])
    with pytest.raises(ValidationError) as err:
        parse_amount("12.345")
    assert str(err.value) == "'12.345' কোনো টাকার পরিমাণ নয়: 1,234.50-এর মতো লিখুন (দশমিকের পরে সর্বোচ্চ 2 অঙ্ক)"


def test_a_database_refusal_reads_in_bangla(bangla):
    refusal = validation_error_from_database(SimpleNamespace(sqlstate="23505", constraint_name="zones_name_key",
                                                             table_name="zones", column_name=None))
    assert str(refusal) == "Name: এই মান আগে থেকেই ব্যবহৃত হচ্ছে। অন্য একটি বেছে নিন।"


def test_timeline_sentences_and_state_labels_in_bangla(bangla):
    assert describe("customer.suspend", {"reason": "বকেয়া বিল"}, "rina") == "rina স্থগিত করেছেন: বকেয়া বিল।"
    assert describe("outbox.disconnect", {"outcome": "ack", "acct_session_id": "s1", "nas_ip": "10.0.0.1"},
                    None) == "রাউটার 10.0.0.1 সেশন s1 বিচ্ছিন্ন করেছে।"
    assert state_label("expired") == "মেয়াদোত্তীর্ণ"
    with use_locale("en"):  # the default stays English
        assert describe("customer.suspend", {}, "rina") == "Suspended by rina."
        assert state_label("expired") == "Expired"


def test_a_change_and_what_the_router_then_did_read_as_one_bangla_sentence(bangla):
    entries = [{"at": datetime(2026, 11, 27, 14, 54, 17, tzinfo=UTC), "action": "outbox.disconnect", "actor": None,
                "detail": {"outbox_id": 7, "outcome": "ack", "acct_session_id": "s1", "nas_ip": "10.0.0.1"}},
               {"at": datetime(2026, 11, 27, 14, 54, 16, tzinfo=UTC), "action": "customer.suspend", "actor": "rina",
                "detail": {"reason": "নভেম্বরের বিল বকেয়া", "outbox_ids": [7]}}]
    suspended = sentences(entries, "Asia/Dhaka")[1]["sentence"]
    assert suspended == ("rina স্থগিত করেছেন: নভেম্বরের বিল বকেয়া — 20:54:17-এ রাউটার 10.0.0.1 সেশন s1 বিচ্ছিন্ন "
                         "করেছে।")


def test_stored_sms_failures_are_shown_in_the_readers_language(bangla):
    stored = sms.NO_BALANCE.format(cost="BDT 0.50", balance="BDT 0.25")  # what send_message stores
    assert sms.shown_error(stored) == ("SMS ব্যালেন্স শেষ: এই বার্তার খরচ BDT 0.50, আর ব্যালেন্স BDT 0.25। SMS "
                                       "ব্যালেন্স রিচার্জ করতে আপনার প্যারেন্ট অপারেটরকে বলুন।")
    assert BENGALI.search(sms.shown_error(sms.NO_GATEWAY))
    assert sms.shown_error("HTTP 500: provider down") == "HTTP 500: provider down"  # the provider's own words
    with use_locale("en"):
        assert sms.shown_error(stored) == stored


def test_an_alert_sentence_in_bangla(bangla):
    text = outbox.failure_message("disconnect", {"username": "rahim01", "acct_session_id": "s9",
                                                 "nas_ip": "10.0.0.1"}, 3, Outcome("timeout", error="no answer"))
    assert text.startswith("3 বার চেষ্টা করেও রাউটার 10.0.0.1-এ rahim01-এর সেশন s9 বিচ্ছিন্ন করা যায়নি: no answer।")


def test_each_default_sms_has_a_bangla_text_with_the_same_placeholders(bangla):
    for event, english in DEFAULT_TEMPLATES.items():
        bangla_text = default_template(event, "bn")
        assert BENGALI.search(bangla_text) and not BENGALI.search(english._message)
        assert set(BRACES.findall(bangla_text)) == set(BRACES.findall(english)) <= set(PLACEHOLDERS)
        assert default_template(event, "en") == english._message
    body = render(default_template("account_suspended", "bn"), {"customer_name": "রহিম", "username": "rahim01",
                                                                 "isp_name": "নেটলিংক"})
    assert body == ("প্রিয় রহিম, বিল বকেয়া থাকায় আপনার ইন্টারনেট (rahim01) বন্ধ করা হয়েছে। আবার চালু করতে বিল "
                    "পরিশোধ করুন। নেটলিংক")


async def test_the_operators_language_decides_alerts_and_suggested_sms(fresh_db_url, catalogs):
    """An alert is made outside any request, and an SMS goes to the operator's customers: the operator's default
    language decides both, not the process's or the login's (en here)."""
    pool = await asyncpg.create_pool(fresh_db_url, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            operator = await factories.operator(conn)
            op = operator["id"]
            assert await operator_locale(conn, op) == "en"  # no language column yet, or the default
            # the column migration 0029 adds (issue 14); IF NOT EXISTS keeps the test valid once it has landed
            await conn.execute("ALTER TABLE operators ADD COLUMN IF NOT EXISTS default_locale text NOT NULL"
                               " DEFAULT 'en'")
            await conn.execute("UPDATE operators SET default_locale = 'bn' WHERE id = $1", op)
            assert await operator_locale(conn, op) == "bn"
            scope = Scope(account_id=None, operator_id=op, path=operator["path"], role="group_admin")
            with use_locale("en"):
                suggested = {t["event"]: t["body"] for t in await sms_config.templates_for(conn, scope)}
            assert suggested["account_activated"] == ("প্রিয় {customer_name}, আপনার ইন্টারনেট ({username}) আবার চালু "
                                                      "হয়েছে। {isp_name}")
            await conn.execute("INSERT INTO outbox (kind, operator_id, payload) VALUES ('disconnect', $1, $2::jsonb)",
                               op, json.dumps({"username": "ghost", "acct_session_id": "s1", "nas_ip": "192.0.2.9"}))
        with use_locale("en"):
            await outbox.dispatch_due(pool, DispatchSettings(retry=RetryPolicy(max_attempts=1)))
        async with pool.acquire() as conn:
            detail = json.loads(await conn.fetchval("SELECT detail FROM audit_log WHERE action = 'alert'"))
        assert detail["message"].startswith("1 বার চেষ্টা করেও রাউটার 192.0.2.9-এ ghost-এর সেশন s1 বিচ্ছিন্ন")
    finally:
        await pool.close()
