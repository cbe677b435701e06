"""Customer-facing PDFs (payment receipt, invoice) from the data radbill.services.reports gathers; no I/O.

Written in the current locale (radbill.i18n: labels, money, dates). fpdf2's built-in fonts are Latin-1 only, so
Unicode TrueType fonts from Debian packages are used: DejaVu for Latin, and Lohit Bengali (fonts-lohit-beng-bengali,
160 KB; Noto Sans Bengali is in the 42 MB fonts-noto-core) as the fallback for Bengali names, addresses and
labels. Bengali needs shaping (vowel signs reorder, conjuncts join), which fpdf2 does through HarfBuzz (uharfbuzz).
Without the fonts, text outside Latin-1 is replaced rather than the receipt refused.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

from fpdf import FPDF

from radbill.i18n import _
from radbill.localize import digits, localtime, money

_UNICODE_FONTS = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
                  Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"))
BENGALI_FONT = Path("/usr/share/fonts/truetype/lohit-bengali/Lohit-Bengali.ttf")


class _Document(FPDF):
    def __init__(self):
        super().__init__(format="A4")
        self.set_auto_page_break(True, margin=15)
        self.set_margins(15, 15, 15)
        self.unicode = all(p.exists() for p in _UNICODE_FONTS)
        if self.unicode:
            self.add_font("body", "", str(_UNICODE_FONTS[0]))
            self.add_font("body", "B", str(_UNICODE_FONTS[1]))
            if BENGALI_FONT.exists():
                # Lohit has no bold face: bold Bengali falls back to the regular one (exact_match=False)
                self.add_font("bengali", "", str(BENGALI_FONT))
                self.set_fallback_fonts(["bengali"], exact_match=False)
                self.set_text_shaping(True)
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
    return localtime(moment, timezone) if moment else "-"


def _period(start, last) -> str:
    # period days are plain dates (already the operator's days): only their digits follow the reader
    return _("%(start)s to %(last)s", start=digits(str(start)), last=digits(str(last)))


def _customer_lines(pdf: _Document, customer) -> None:
    pdf.line_of(_("Customer: %(name)s (%(username)s, ID %(id)s)", name=customer["name"],
                  username=customer["username"], id=customer["id"]))
    if customer["mobile"]:
        pdf.line_of(_("Mobile: %(mobile)s", mobile=customer["mobile"]))
    if customer["address"]:
        pdf.line_of(_("Address: %(address)s", address=customer["address"]))
    pdf.ln(3)


def receipt_pdf(data: dict, logo: tuple[bytes, str] | None = None) -> bytes:
    """The payment receipt: ISP header, payment, what it paid, what went to advance credit."""
    p, c = data["payment"], data["customer"]
    cur, tz = p["currency"], c["timezone"]
    pdf = _Document()
    _header(pdf, data["isp"], logo, _("Payment receipt #%(id)s", id=p["id"]))
    pdf.line_of(_("Received: %(when)s   Method: %(method)s", when=_when(p["received_at"], tz), method=p["method"]))
    if p["collector"]:
        pdf.line_of(_("Collected by: %(collector)s", collector=p["collector_name"] or p["collector"]))
    _customer_lines(pdf, c)
    rows = [[f"#{line['bill_id']}", _period(line["period_start"], line["period_last"]),
             money(line["applied_minor"], cur), line["status"]] for line in data["lines"]]
    if data["advance_minor"]:
        rows.append(["", _("Advance credit"), money(data["advance_minor"], cur), ""])
    # a leading space right-aligns a column (see _Document.table)
    pdf.table([_("Bill"), _("Period"), " " + _("Amount"), _("Bill status")], rows, [25, 75, 45, 35])
    pdf.line_of(_("Total received: %(amount)s", amount=money(p["amount_minor"], cur)), 12, bold=True)
    if p["note"]:
        pdf.line_of(_("Note: %(note)s", note=p["note"]), 9)
    for r in data.get("reversals", ()):  # radbill.services.corrections.reverse_payment
        pdf.line_of(_("Reversed %(at)s: %(amount)s. Reason: %(reason)s", at=_when(r["created_at"], tz),
                      amount=money(r["amount_minor"], cur), reason=r["reason"]), 11, bold=True)
    return bytes(pdf.output())


def vat_label(bill) -> str:
    """The VAT line of an invoice: its rate, and whether it was included in the price."""
    if bill["vat_rate"] is None:
        return _("VAT")
    rate = format(bill["vat_rate"] / 100, "g")
    if bill["price_includes_vat"]:
        return _("VAT %(rate)s%% (included in the price)", rate=rate)
    return _("VAT %(rate)s%%", rate=rate)


def invoice_pdf(data: dict, logo: tuple[bytes, str] | None = None) -> bytes:
    """The invoice of one bill: ISP header, period, net, VAT, total, paid and outstanding."""
    b, c = data["bill"], data["customer"]
    cur, tz = b["currency"], c["timezone"]
    pdf = _Document()
    _header(pdf, data["isp"], logo, _("Invoice #%(id)s", id=b["id"]))
    pdf.line_of(_("Issued: %(issued)s   Due: %(due)s   Status: %(status)s", issued=_when(b["issued_at"], tz),
                  due=_when(b["due_at"], tz), status=b["status"]))
    _customer_lines(pdf, c)
    if b["vat_registration"]:
        pdf.line_of(_("VAT registration number (BIN): %(number)s", number=b["vat_registration"]))
    pdf.table([_("Description"), _("Period"), " " + _("Amount")],
              [[b["package_name"] or _("Internet service"), _period(b["period_start"], b["period_last"]),
                money(b["amount_minor"], cur)],
               [vat_label(b), "", money(b["vat_minor"], cur)]], [70, 65, 45])
    for line, bold in ((_("Total: %(amount)s", amount=money(b["total_minor"], cur)), True),
                       (_("Paid: %(amount)s", amount=money(b["paid_minor"], cur)), False),
                       (_("Outstanding: %(amount)s", amount=money(b["outstanding_minor"], cur)), True)):
        pdf.line_of(line, 11, bold=bold)
    if b["status"] == "void":
        pdf.line_of(_("VOID %(at)s. Reason: %(reason)s", at=_when(b["voided_at"], tz), reason=b["void_reason"]), 12,
                    bold=True)
    return bytes(pdf.output())
