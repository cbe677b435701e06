"""Payment confirmation, printable receipts and invoices (HTML with print CSS) and their PDFs."""

from __future__ import annotations

from aiohttp import web

from admin.routing import ALL_ROLES, route
from admin.web import render
from radbill import documents
from radbill.services import reports

COLLECT = "billing.collect"

# Served from a route: the admin's CSP allows stylesheets from 'self' only (no inline <style>).
PRINT_CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#111;margin:0;
     background:#eef1f4}
.sheet{background:#fff;max-width:800px;margin:1.5rem auto;padding:2rem 2.2rem;border:1px solid #d6dbe1}
.toolbar{max-width:800px;margin:1rem auto 0;display:flex;gap:.8rem;align-items:center;flex-wrap:wrap}
.toolbar a{color:#0b5cad}
.isp{display:flex;justify-content:space-between;align-items:flex-start;gap:1rem;border-bottom:2px solid #111;
     padding-bottom:.8rem;margin-bottom:1rem}
.isp h1{margin:0 0 .2rem;font-size:1.5rem}.isp p{margin:0;color:#333}
.isp img{max-height:70px;max-width:180px}
h2{font-size:1.15rem;margin:1rem 0 .5rem}
table{width:100%;border-collapse:collapse;margin:.6rem 0}
th,td{text-align:left;padding:.35rem .4rem;border-bottom:1px solid #ddd;vertical-align:top}
.num{text-align:right;white-space:nowrap}
.total td{font-weight:700;border-top:2px solid #111;border-bottom:none}
.meta td:first-child{color:#555;width:35%}
.muted{color:#666}.stamp{display:inline-block;border:2px solid #1d7a36;color:#1d7a36;padding:.1rem .5rem;
      font-weight:700;text-transform:uppercase;transform:rotate(-4deg)}
.stamp.reversed{border-color:#b3261e;color:#b3261e}
@media screen and (max-width:600px){
  .sheet{margin:.5rem;padding:1rem}
  .sheet table{display:block;overflow-x:auto}
}
@media print{
  body{background:#fff}
  .toolbar{display:none}
  .sheet{border:none;margin:0;max-width:none;padding:0}
  a{color:inherit;text-decoration:none}
  @page{size:A4;margin:15mm}
}
"""


@route("GET", "/billing/print.css", roles=ALL_ROLES)
async def print_css(request: web.Request, scope):
    return web.Response(text=PRINT_CSS, content_type="text/css",
                        headers={"Cache-Control": "private, max-age=3600"})


@route("GET", "/payments/{payment_id:\\d+}", roles=ALL_ROLES, permission=COLLECT)
async def payment_done(request: web.Request, scope):
    """Where a collected payment lands: what it did, and the receipt."""
    async with request.app["pool"].acquire() as conn:
        data = await reports.receipt(conn, scope, int(request.match_info["payment_id"]))
    return render(request, "billing_payment.html", **data)


@route("GET", "/payments/{payment_id:\\d+}/receipt", roles=ALL_ROLES, permission=COLLECT)
async def receipt_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        data = await reports.receipt(conn, scope, int(request.match_info["payment_id"]))
    return render(request, "billing_receipt.html", **data)


@route("GET", "/bills/{bill_id:\\d+}/invoice", roles=ALL_ROLES, permission=COLLECT)
async def invoice_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        data = await reports.invoice(conn, scope, int(request.match_info["bill_id"]))
    return render(request, "billing_invoice.html", vat_label=documents.vat_label, **data)


def _pdf(body: bytes, name: str) -> web.Response:
    return web.Response(body=body, content_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{name}"'})


@route("GET", "/payments/{payment_id:\\d+}/receipt.pdf", roles=ALL_ROLES, permission=COLLECT)
async def receipt_pdf(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        data = await reports.receipt(conn, scope, int(request.match_info["payment_id"]))
        logo = await reports.isp_logo(conn, data["isp"]["id"])
    return _pdf(documents.receipt_pdf(data, logo), f"receipt-{data['payment']['id']}.pdf")


@route("GET", "/bills/{bill_id:\\d+}/invoice.pdf", roles=ALL_ROLES, permission=COLLECT)
async def invoice_pdf(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        data = await reports.invoice(conn, scope, int(request.match_info["bill_id"]))
        logo = await reports.isp_logo(conn, data["isp"]["id"])
    return _pdf(documents.invoice_pdf(data, logo), f"invoice-{data['bill']['id']}.pdf")
