"""VAT through the admin: profiles added and edited on /vat, attached to the ISP and to a package; the invoice
(HTML and PDF) prints the rate, the VAT amount and the registration number of the profile that taxed the bill."""

from __future__ import annotations

from pathlib import Path

from radbill import documents
from tests.billing_admin.test_documents import pdf_text
from tests.support.billing import issue_bills
from tests.support.db import connect


async def _profile_id(url, name):
    async with connect(url) as conn:
        return await conn.fetchval("SELECT id FROM vat_profiles WHERE name = $1", name)


async def test_vat_profiles_attached_in_the_ui_tax_the_bill_and_print_on_the_invoice(make_client, tree, fresh_db_url,
                                                                                     monkeypatch):
    monkeypatch.setattr(documents, "_UNICODE_FONTS", (Path("/nonexistent/regular.ttf"), Path("/nonexistent/bold.ttf")))
    c = await make_client("opa")
    for form in ({"name": "Standard", "rate": "15", "price_includes_vat": "no", "registration_number": "000111222-0101"},
                 {"name": "Reduced", "rate": "7.5", "price_includes_vat": "yes", "registration_number": "000333444-0202"}):
        response = await c.post("/vat/new", form, token_from="/vat/new")
        assert response.status == 303, await response.text()
    standard, reduced = await _profile_id(fresh_db_url, "Standard"), await _profile_id(fresh_db_url, "Reduced")
    listing = await (await c.get("/vat")).text()
    assert "000111222-0101" in listing and "7.50 %" in listing

    # the ISP's profile for every package, and one package with its own
    assert (await c.post("/vat/operator", {"vat_profile_id": str(standard)}, token_from="/isp")).status == 303
    package_b = tree.customers["a2"]["package_id"]
    page = await (await c.get(f"/packages/{package_b}/edit")).text()
    assert "Reduced (7.50 %, include VAT)" in page
    form = {"name": "Home A2", "download": "10M", "upload": "5M", "price": "500", "validity_days": "30",
            "connection_types": ["pppoe", "hotspot", "static", "other"], "vat_profile_id": str(reduced)}
    assert (await c.post(f"/packages/{package_b}/edit", form, token_from=f"/packages/{package_b}/edit")).status == 303

    bills = await issue_bills(fresh_db_url)
    a1, a2 = bills["a1"], bills["a2"]  # 500.00 each: exclusive 15 % adds 75.00; inclusive 7.5 % holds 34.88
    assert (a1["amount_minor"], a1["vat_minor"], a1["total_minor"]) == (50000, 7500, 57500)
    assert (a2["amount_minor"], a2["vat_minor"], a2["total_minor"]) == (46512, 3488, 50000)

    for bill, rate, vat_shown, registration in ((a1, "VAT 15%", "BDT 75.00", "000111222-0101"),
                                                (a2, "VAT 7.5% (included in the price)", "BDT 34.88",
                                                 "000333444-0202")):
        page = await (await c.get(f"/bills/{bill['id']}/invoice")).text()
        assert rate in page and vat_shown in page and registration in page
        text = pdf_text(await (await c.get(f"/bills/{bill['id']}/invoice.pdf")).read())
        text = text.replace("\\(", "(").replace("\\)", ")")  # PDF string escapes
        assert rate in text and vat_shown in text and f"VAT registration number (BIN): {registration}" in text


async def test_bad_vat_profiles_are_refused_and_others_cannot_edit_them(make_client, fresh_db_url):
    c = await make_client("opa")
    for form, text in (({"name": "X", "rate": "fifteen"}, "Enter the rate in per cent"),
                       ({"name": "X", "rate": "150"}, "at most 100"),
                       ({"name": "", "rate": "15"}, "Enter a name"),
                       ({"name": "X", "rate": "15", "registration_number": "<script>"}, "Up to 40 letters")):
        response = await c.post("/vat/new", form, token_from="/vat/new")
        assert response.status == 422 and text in await response.text(), form
    assert (await c.post("/vat/new", {"name": "Mine", "rate": "5"}, token_from="/vat/new")).status == 303
    mine = await _profile_id(fresh_db_url, "Mine")
    other = await make_client("opb")
    assert (await other.get(f"/vat/{mine}/edit")).status == 404
    response = await other.post("/vat/operator", {"vat_profile_id": str(mine)}, token_from="/isp")
    assert response.status == 303  # refused with a sentence on the ISP page, nothing attached
    async with connect(fresh_db_url) as conn:
        assert await conn.fetchval("SELECT count(*) FROM operators WHERE vat_profile_id = $1", mine) == 0
    assert (await (await make_client("suba1")).get("/vat")).status == 403
