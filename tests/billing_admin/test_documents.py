"""Receipts and invoices, HTML and PDF, through the admin app: exact, partial, over- and advance-only payments, in
a two-decimal currency (BDT) and a zero-decimal one (JPY) — every page answers 200 with the right amounts."""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from radbill import documents
from radbill.services import payments
from radbill.tenancy import Scope
from tests.support.billing import issue_bills
from tests.support.db import connect

# the amounts each payment's receipt must show, per currency (bills are 500.00 BDT / 50,000 JPY: 50000 minor)
EXPECTED = {
    "BDT": {"exact": ["BDT 500.00"], "partial": ["BDT 200.00"], "over": ["BDT 500.00", "BDT 300.00", "BDT 800.00"],
            "advance": ["BDT 123.45"]},
    "JPY": {"exact": ["JPY 50,000"], "partial": ["JPY 20,000"], "over": ["JPY 50,000", "JPY 30,000", "JPY 80,000"],
            "advance": ["JPY 12,345"]},
}


def pdf_text(body: bytes) -> str:
    """The text an fpdf2 PDF drew with a core font: inflate the page streams, keep what each Tj shows."""
    shown = []
    # the end-of-line before `endstream` stays with the data: zlib's stream ends itself, so whatever follows it is
    # ignored (cutting a "\r?\n" off instead cut a compressed stream whose last byte happened to be \r: a flaky test)
    for raw in re.findall(rb"stream\r?\n(.*?)endstream", body, re.S):
        try:
            shown += re.findall(rb"\((.*?)\) Tj", zlib.decompressobj().decompress(raw))
        except zlib.error:  # an image or font: no text
            continue
    return "\n".join(t.decode("latin-1") for t in shown)


async def _pay_all(url: str, tree, bills: dict) -> dict:
    """exact: a1 pays its bill; partial: a2 pays part; over: b pays more than owed; advance: a1 tops up its wallet."""
    now = datetime.now(UTC)
    out = {}
    async with connect(url) as conn:
        for name, kind, customer, amount in (("exact", "cash", "a1", 50000), ("partial", "cash", "a2", 20000),
                                             ("over", "cash", "b", 80000), ("advance", "advance", "a1", 12345)):
            row = tree.customers[customer]
            op = await conn.fetchrow("SELECT id, path::text AS path FROM operators WHERE id = $1", row["operator_id"])
            scope = Scope(None, op["id"], op["path"], "operator")
            pay = payments.add_advance_payment if kind == "advance" else payments.record_cash_payment
            out[name] = (await pay(conn, scope, row["id"], amount, now=now)).payment
    return out


@pytest.mark.parametrize("currency", ["BDT", "JPY"])
async def test_receipts_and_invoices_render_for_every_kind_of_payment(make_client, tree, fresh_db_url, currency,
                                                                      monkeypatch):
    # the built-in Latin-1 font writes the text as it is, so the PDF's amounts can be read back below
    monkeypatch.setattr(documents, "_UNICODE_FONTS", (Path("/nonexistent/regular.ttf"), Path("/nonexistent/bold.ttf")))
    async with connect(fresh_db_url) as conn:
        await conn.execute("UPDATE operators SET currency = $1", currency)
    bills = await issue_bills(fresh_db_url)
    paid = await _pay_all(fresh_db_url, tree, bills)
    c = await make_client("admin")
    for name, payment in paid.items():
        for url in (f"/payments/{payment['id']}", f"/payments/{payment['id']}/receipt"):
            response = await c.get(url)
            page = await response.text()
            assert response.status == 200, (url, page[:300])
            for amount in EXPECTED[currency][name]:
                assert amount in page, (name, url, amount)
        response = await c.get(f"/payments/{payment['id']}/receipt.pdf")
        body = await response.read()
        assert response.status == 200, (name, body[:300])
        assert response.content_type == "application/pdf" and body.startswith(b"%PDF")
        text = pdf_text(body)
        for amount in EXPECTED[currency][name]:
            assert amount in text, (name, amount, text)
    outstanding = {"a1": 0, "a2": 30000, "b": 0}
    for customer, left in outstanding.items():
        bill = bills[customer]
        shown = f"{currency} {left // 100:,}.{left % 100:02d}" if currency == "BDT" else f"{currency} {left:,}"
        response = await c.get(f"/bills/{bill['id']}/invoice")
        page = await response.text()
        assert response.status == 200 and shown in page, (customer, shown)
        response = await c.get(f"/bills/{bill['id']}/invoice.pdf")
        body = await response.read()
        assert response.status == 200 and body.startswith(b"%PDF")
        assert f"Outstanding: {shown}" in pdf_text(body), (customer, shown)
