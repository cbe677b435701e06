"""Receipts and invoices in Bangla: Bengali names, addresses and labels reach the PDF's text (fpdf2 + HarfBuzz
shaping + Lohit Bengali from Debian), Latin still renders beside them, and the money follows the reader."""

from __future__ import annotations

import io
import unicodedata
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader

from radbill import documents, i18n
from tests.billing_admin.test_documents import _pay_all
from tests.support.billing import issue_bills
from tests.support.db import connect

NAME = "মোহাম্মদ রফিকুল ইসলাম"  # conjuncts (ম্ম) and vowel signs placed before their consonant (ো, ি)
ADDRESS = "১২ লেক রোড, ক্ষিতিপুর"


def letters(text: str) -> str:
    """The Bengali base letters of `text`, in order. Shaped text comes back from a PDF in glyph order (a vowel
    sign drawn before its consonant is read first), so the test compares what a reader must see: every letter."""
    return "".join(ch for ch in text if "\u0980" <= ch <= "\u09ff" and unicodedata.category(ch) == "Lo")


def pdf_text(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def receipt_data() -> dict:
    return {"payment": {"id": 7, "currency": "BDT", "received_at": datetime(2026, 11, 3, 5, tzinfo=UTC),
                        "method": "cash", "collector": "rina", "collector_name": "Rina Akter", "amount_minor": 123450,
                        "note": None},
            "customer": {"id": 5, "name": NAME, "username": "rafiq", "mobile": "01711000000", "address": ADDRESS,
                         "timezone": "Asia/Dhaka"},
            "isp": {"business_name": "Kshipra Net", "name": "k", "address": None, "phone": None, "email": None},
            "lines": [{"bill_id": 3, "period_start": date(2026, 11, 1), "period_last": date(2026, 11, 30),
                       "applied_minor": 123450, "status": "paid"}],
            "advance_minor": 0}


@pytest.fixture(autouse=True)
def catalogs():
    i18n.load_catalogs()


def test_the_bengali_font_is_installed():
    assert documents.BENGALI_FONT.exists(), "make deps installs fonts-lohit-beng-bengali"


@pytest.mark.parametrize("locale", ["en", "bn"])
def test_a_bengali_name_and_address_survive_into_the_pdf(locale):
    with i18n.use_locale(locale):
        body = documents.receipt_pdf(receipt_data())
    text = pdf_text(body)
    assert letters(NAME) in letters(text) and letters(ADDRESS) in letters(text)
    assert b"Lohit" in body  # the Bengali font is embedded, not replaced by "?"
    assert "rafiq" in text and "Kshipra Net" in text and "Rina Akter" in text  # Latin beside it still renders


def test_a_bangla_receipt_has_bengali_labels_and_money():
    with i18n.use_locale("en"):
        english = pdf_text(documents.receipt_pdf(receipt_data()))
    with i18n.use_locale("bn", bengali_digits=True):
        bangla = pdf_text(documents.receipt_pdf(receipt_data()))
    assert "Payment receipt #7" in english and "Total received: BDT 1,234.50" in english
    assert "Payment receipt" not in bangla and "Total received" not in bangla
    for label in ("পেমেন্টের রসিদ", "মোট গ্রহণ", "আদায়কারী", "গ্রাহক"):
        assert letters(label) in letters(bangla), label
    assert "৳১,২৩৪.৫০" in bangla  # taka sign, Bengali digits as the operator chose


async def test_a_bangla_login_downloads_bangla_documents(make_client, tree, fresh_db_url):
    bills = await issue_bills(fresh_db_url)
    paid = await _pay_all(fresh_db_url, tree, bills)
    async with connect(fresh_db_url) as conn:
        await conn.execute("UPDATE accounts SET locale = 'bn' WHERE username = 'admin'")
        await conn.execute("UPDATE customers SET name = $1 WHERE id = $2", NAME, tree.customers["a1"]["id"])
    c = await make_client("admin")
    receipt = pdf_text(await (await c.get(f"/payments/{paid['exact']['id']}/receipt.pdf")).read())
    invoice = pdf_text(await (await c.get(f"/bills/{bills['a1']['id']}/invoice.pdf")).read())
    assert letters("পেমেন্টের রসিদ") in letters(receipt) and letters(NAME) in letters(receipt)
    assert letters("ইনভয়েস") in letters(invoice) and "৳500.00" in invoice  # digits: the operator's default
