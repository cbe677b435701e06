"""A business report (radbill.services.business_reports.Report) as CSV, XLSX or PDF, and its charts as bar
geometry for a small server-rendered SVG. No I/O: the admin handler fetches, this formats.

Every text cell goes through radbill.spreadsheet.neutralise (files opened by spreadsheet programs); money is a
number with the currency's decimals in CSV/XLSX and formatted in the reader's locale in the PDF.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from radbill.billing.money import exponent
from radbill.documents import _Document
from radbill.i18n import _
from radbill.localize import digits, money
from radbill.spreadsheet import neutralise

CONTENT_TYPES = {"csv": "text/csv",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                 "pdf": "application/pdf"}


def _amount(minor: int | None, currency: str) -> Decimal | None:
    if minor is None:
        return None
    places = exponent(currency)
    return Decimal(int(minor)).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def cells(report) -> list[list]:
    """One list per row in column order: numbers as numbers, money as Decimal, text neutralised."""
    out = []
    for row in report.rows:
        line = []
        for col in report.columns:
            value = row.get(col.key)
            if col.kind == "money":
                value = _amount(value, report.currency)
            elif col.kind == "int":
                value = None if value is None else int(value)
            else:
                value = neutralise("" if value is None else str(value))
            line.append(value)
        out.append(line)
    return out


def to_csv(report) -> bytes:
    """UTF-8 with a BOM (spreadsheet programs then read Bengali names right); the header is the column keys."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.key.removesuffix("_minor") for c in report.columns])
    for line in cells(report):
        writer.writerow(["" if v is None else str(v) for v in line])
    return ("\ufeff" + buffer.getvalue()).encode()


def to_xlsx(report) -> bytes:
    """Write-only workbook (streamed rows: a 66,000-row dues list in seconds, not minutes); amounts are numbers
    with two decimals; text was neutralised, so no cell starts like a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet(report.kind)
    sheet.append([c.label for c in report.columns])
    money_columns = {i for i, c in enumerate(report.columns) if c.kind == "money"}
    for line in cells(report):
        row = []
        for i, value in enumerate(line):
            if i in money_columns and value is not None:
                value = WriteOnlyCell(sheet, value=value)
                value.number_format = "#,##0.00"
            row.append(value)
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _shown(value, kind: str, currency: str) -> str:
    if value is None:
        return ""
    if kind == "money":
        return money(int(value), currency)
    return digits(str(value))


def to_pdf(report, subtitle: str) -> bytes:
    """A4 landscape would be wider, but reports are printed on the same A4 as receipts: columns share 180 mm."""
    pdf = _Document()
    pdf.line_of(report.title, 14, bold=True)
    pdf.line_of(subtitle, 9)
    pdf.ln(3)
    # a leading space right-aligns a column in _Document.table (numbers)
    header = [(" " + c.label) if c.kind != "text" else c.label for c in report.columns]
    width = int(180 / max(len(header), 1))
    rows = [[_shown(r.get(c.key), c.kind, report.currency) for c in report.columns] for r in report.rows]
    pdf.table(header, rows, [width] * len(header))
    if report.more:
        pdf.line_of(_("Only the first %(n)s rows are shown.", n=len(report.rows)), 9)
    if report.note:
        pdf.line_of(report.note, 8)
    return bytes(pdf.output())


CHART_WIDTH = 340  # viewBox units; scales to the card, ~1 unit per CSS px on a 390 px phone
CHART_ROW = 18
LABEL_WIDTH = 96
VALUES_FROM = 236


def bars(items: list[tuple[str, int]]) -> dict:
    """Horizontal bars with the label and the value written beside each (readable on a phone, where nothing can
    be hovered); negative values (a loss) draw no bar but keep their number."""
    peak = max((v for _, v in items), default=0) or 1
    room = VALUES_FROM - LABEL_WIDTH - 6
    rows = [{"y": i * CHART_ROW, "text_y": i * CHART_ROW + CHART_ROW - 5, "x": LABEL_WIDTH,
             "w": round(max(v, 0) / peak * room, 2), "h": CHART_ROW - 4, "label": str(label)[:16], "value": v}
            for i, (label, v) in enumerate(items)]
    return {"rows": rows, "width": CHART_WIDTH, "height": max(len(rows), 1) * CHART_ROW, "axis_x": LABEL_WIDTH - 2}
