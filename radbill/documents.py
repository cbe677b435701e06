"""Customer-facing PDFs (payment receipt, invoice) from the data radbill.services.reports gathers; no I/O.

fpdf2 is pure Python. Its built-in fonts are Latin-1 only, so a Unicode TrueType font is used when the machine
has one (DejaVu ships with Debian's chromium and most desktops); otherwise text outside Latin-1 is replaced.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fpdf import FPDF

from radbill.billing.money import format_minor
from radbill.i18n import _

_UNICODE_FONTS = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
                  Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"))


class _Document(FPDF):
    def __init__(self):
        super().__init__(format="A4")
        self.set_auto_page_break(True, margin=15)
        self.set_margins(15, 15, 15)
        self.unicode = all(p.exists() for p in _UNICODE_FONTS)
        if self.unicode:
            self.add_font("body", "", str(_UNICODE_FONTS[0]))
            self.add_font("body", "B", str(_UNICODE_FONTS[1]))
        self.family = "body" if self.unicode else "helvetica"
        self.add_page()

    def text_of(self, value) -> str:
        text = "" if value is None else str(value)
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")

    def line_of(self, text, size: int = 10, bold: bool = False, align: str = "L") -> None:
        self.set_font(self.family, "B" if bold else "", size)
        self.multi_cell(0, size * 0.5, self.text_of(text), align=align, new_x="LMARGIN", new_y="NEXT")

    def table(self, header: list[str], rows: list[list[str]], widths: list[int]) -> None:
        self.set_font(self.family, "B", 9)
        for text, width in zip(header, widths, strict=True):
            self.cell(width, 7, self.text_of(text), border="B", align="R" if text.startswith(" ") else "L")
        self.ln()
        self.set_font(self.family, "", 9)
        for row in rows:
            for i, (text, width) in enumerate(zip(row, widths, strict=True)):
                self.cell(width, 6, self.text_of(text), align="R" if header[i].startswith(" ") else "L")
            self.ln()
        self.ln(3)


def _header(pdf: _Document, isp, logo: tuple[bytes, str] | None, title: str) -> None:
    if logo:
        try:
            pdf.image(io.BytesIO(logo[0]), x=pdf.w - pdf.r_margin - 30, y=12, w=30)
        except Exception:  # noqa: BLE001 -- a logo the image library cannot read must not cost the customer a receipt
            pass
    pdf.line_of(isp["business_name"] or isp["name"], 16, bold=True)
    for part in (isp["address"], isp["phone"], isp["email"]):
        if part:
            pdf.line_of(part, 9)
    pdf.ln(6)
    pdf.line_of(title, 14, bold=True)
    pdf.ln(2)


def _when(moment: datetime | None, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M") if moment else "-"


def _customer_lines(pdf: _Document, customer) -> None:
    pdf.line_of(f"Customer: {customer['name']} ({customer['username']}, ID {customer['id']})")
    if customer["mobile"]:
        pdf.line_of(f"Mobile: {customer['mobile']}")
    if customer["address"]:
        pdf.line_of(f"Address: {customer['address']}")
    pdf.ln(3)


def receipt_pdf(data: dict, logo: tuple[bytes, str] | None = None) -> bytes:
    """The payment receipt: ISP header, payment, what it paid, what went to advance credit."""
    p, c = data["payment"], data["customer"]
    cur, tz = p["currency"], c["timezone"]
    pdf = _Document()
    _header(pdf, data["isp"], logo, f"Payment receipt #{p['id']}")
    pdf.line_of(f"Received: {_when(p['received_at'], tz)}   Method: {p['method']}")
    if p["collector"]:
        pdf.line_of(f"Collected by: {p['collector_name'] or p['collector']}")
    _customer_lines(pdf, c)
    rows = [[f"#{line['bill_id']}", f"{line['period_start']} to {line['period_last']}",
             format_minor(line["applied_minor"], cur), line["status"]] for line in data["lines"]]
    if data["advance_minor"]:
        rows.append(["", "Advance credit", format_minor(data["advance_minor"], cur), ""])
    pdf.table(["Bill", "Period", " Amount", "Bill status"], rows, [25, 75, 45, 35])
    pdf.line_of(f"Total received: {format_minor(p['amount_minor'], cur)}", 12, bold=True)
    if p["note"]:
        pdf.line_of(f"Note: {p['note']}", 9)
    for r in data.get("reversals", ()):  # radbill.services.corrections.reverse_payment
        pdf.line_of(_("Reversed %(at)s: %(amount)s. Reason: %(reason)s", at=_when(r["created_at"], tz),
                      amount=format_minor(r["amount_minor"], cur), reason=r["reason"]), 11, bold=True)
    return bytes(pdf.output())


def invoice_pdf(data: dict, logo: tuple[bytes, str] | None = None) -> bytes:
    """The invoice of one bill: ISP header, period, net, VAT, total, paid and outstanding."""
    b, c = data["bill"], data["customer"]
    cur, tz = b["currency"], c["timezone"]
    pdf = _Document()
    _header(pdf, data["isp"], logo, f"Invoice #{b['id']}")
    pdf.line_of(f"Issued: {_when(b['issued_at'], tz)}   Due: {_when(b['due_at'], tz)}   Status: {b['status']}")
    _customer_lines(pdf, c)
    pdf.table(["Description", "Period", " Amount"],
              [[b["package_name"] or "Internet service", f"{b['period_start']} to {b['period_last']}",
                format_minor(b["amount_minor"], cur)],
               ["VAT", "", format_minor(b["vat_minor"], cur)]], [70, 65, 45])
    for label, amount in (("Total", b["total_minor"]), ("Paid", b["paid_minor"]),
                          ("Outstanding", b["outstanding_minor"])):
        pdf.line_of(f"{label}: {format_minor(amount, cur)}", 11, bold=label != "Paid")
    if b["status"] == "void":
        pdf.line_of(_("VOID %(at)s. Reason: %(reason)s", at=_when(b["voided_at"], tz), reason=b["void_reason"]), 12,
                    bold=True)
    return bytes(pdf.output())
