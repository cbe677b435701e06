"""The downloadable template: the Add Customer form's fields as columns, with one example row."""

from __future__ import annotations

import csv
import io

from radbill.importing.mapping import FIELDS


def example_row(package: str = "Home 10", profile: str = "Monthly", zone: str = "") -> list[str]:
    """An example customer in the template's column order, naming a real package/profile/zone when given."""
    example = {"name": "Rahim Uddin", "mobile": "01712345678", "email": "rahim@example.com",
               "address": "House 12, Road 3, Mirpur", "national_id": "", "zone": zone, "username": "rahim01",
               "radius_password": "", "connection_type": "PPPoE", "static_ip": "", "package": package,
               "billing_profile": profile, "mac_address": "", "custom_price": "", "simultaneous_use": "", "ip_pool": ""}
    return [example[f.key] for f in FIELDS]


def headers() -> list[str]:
    return [f.label for f in FIELDS]


def template_csv(example: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers())
    writer.writerow(example)
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8 names correctly


def template_xlsx(example: list[str]) -> bytes:
    import openpyxl
    from openpyxl.styles import Font

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Customers"
    sheet.append(headers())
    sheet.append(example)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for column in sheet.iter_cols(min_row=1, max_row=2):
        column[0].number_format = "@"  # text, so Excel keeps a mobile's leading 0
        sheet.column_dimensions[column[0].column_letter].width = max(12, len(str(column[0].value)) + 4)
    for row in sheet.iter_rows(min_row=2, max_row=2):
        for cell in row:
            cell.number_format = "@"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
