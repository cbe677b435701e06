"""Reading an uploaded customer list (CSV in any common encoding, or XLSX) into a plain table, safely.

Everything here is pure: bytes in, a `Table` or an `ImportFileError` with a sentence out. XLSX files are zip
archives of XML, so they are checked before openpyxl sees them (entry count, uncompressed size, compression
ratio: a zip bomb is refused without being inflated) and parsed by openpyxl in read-only mode, which uses
defusedxml (no entity expansion, no external entities) when it is installed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field

from radbill.errors import RadbillError
from radbill.i18n import _

MAX_FILE_BYTES = 2_000_000  # below the admin's 2 MiB request limit, so the handler can say it in words
MAX_ROWS = 20_000
MAX_COLUMNS = 60
MAX_CELL_CHARS = 1_000
MAX_XLSX_ENTRIES = 200
MAX_XLSX_UNCOMPRESSED = 40_000_000
MAX_XLSX_RATIO = 150  # sheets of real data compress ~5-20x; styled empty rows ~100x; bombs 1000x+
MAX_EMPTY_RUN = 1_000  # Excel keeps thousands of formatted empty rows: stop at the first long empty stretch


class ImportFileError(RadbillError):
    """The file cannot be read as a customer list; the message says what to do instead."""


@dataclass
class Table:
    """A header row and the data rows under it; `lines` are the 1-based line/row numbers users see."""

    headers: list[str]
    rows: list[list[str]]
    lines: list[int] = field(default_factory=list)
    ragged: dict[int, int] = field(default_factory=dict)  # line -> how many non-empty cells were past the header

    def __post_init__(self):
        if not self.lines:
            self.lines = list(range(2, len(self.rows) + 2))


def read_table(data: bytes, filename: str = "") -> Table:
    """CSV or XLSX bytes -> Table; ImportFileError with a sentence for anything that is not a usable list."""
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise ImportFileError(_("Choose a file to upload: a CSV or an Excel .xlsx file."))
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError(_("The file is %(size)s MB; the limit is %(limit)s MB. Split it into smaller files.",
                                size=format(len(data) / 1_000_000, ".1f"),
                                limit=format(MAX_FILE_BYTES / 1_000_000, ".0f")))
    if data[:4] == b"PK\x03\x04":
        return _read_xlsx(bytes(data))
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ImportFileError(_("This is an old Excel .xls file: open it in Excel or LibreOffice and save it as "
                              ".xlsx or CSV."))
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise ImportFileError(_("This file is named .xlsx but is not an Excel workbook. Save it again from Excel, "
                              "or export it as CSV."))
    return _read_csv(bytes(data))


# ---- CSV ------------------------------------------------------------------------------------------------

def decode_text(data: bytes) -> str:
    """UTF-8 (with or without Excel's BOM), UTF-16 with a BOM, else Windows-1252; refuses binary data."""
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", errors="strict") if _utf8(data[3:]) else None
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            text = None
    elif _utf8(data):
        text = data.decode("utf-8")
    else:
        text = data.decode("cp1252", errors="replace")
    if text is None or _looks_binary(text):
        raise ImportFileError(_("This does not look like a CSV or Excel file. Export the list from your old system "
                              "as CSV (comma or semicolon separated) or .xlsx and upload that."))
    return text


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _looks_binary(text: str) -> bool:
    sample = text[:20_000]
    if "\x00" in sample:
        return True
    control = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\r\n\t")
    replaced = sample.count("\ufffd")
    return (control + replaced) > max(3, len(sample) // 50)


def sniff_delimiter(first_line: str) -> str:
    """',', ';' or tab: whichever the header line uses most (Excel in many locales writes ';')."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_csv(data: bytes) -> Table:
    text = decode_text(data)
    first = next((line for line in text.splitlines() if line.strip()), "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(first))
    try:
        records = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise ImportFileError(_("The CSV cannot be read near line %(line)s: %(problem)s. Check for a stray "
                                "quote mark (\").", line=reader.line_num, problem=exc)) from None
    return _tabulate(records)


# ---- XLSX -----------------------------------------------------------------------------------------------

def _check_zip(data: bytes) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError, EOFError, UnicodeDecodeError):
        # a damaged header can claim an unknown zip version (NotImplementedError) or name (UnicodeDecodeError)
        raise ImportFileError(_("This Excel file is damaged (not a readable .xlsx). Save it again from Excel, or "
                              "export it as CSV.")) from None
    if len(entries) > MAX_XLSX_ENTRIES:
        raise ImportFileError(_("This workbook has too many parts to be a customer list. Export the sheet as CSV."))
    total = sum(e.file_size for e in entries)
    if total > MAX_XLSX_UNCOMPRESSED:
        raise ImportFileError(_("This workbook unpacks to more than 40 MB: it is not a plain customer list (or it "
                              "is a zip bomb). Export just the customer sheet as CSV."))
    for e in entries:
        if e.file_size > 1_000_000 and e.file_size > MAX_XLSX_RATIO * max(e.compress_size, 1):
            raise ImportFileError(_("This workbook is compressed suspiciously well (it could be a zip bomb, or "
                                  "hold thousands of formatted empty rows). Delete the empty rows, or export "
                                  "the sheet as CSV."))
    if "xl/workbook.xml" not in {e.filename for e in entries}:
        raise ImportFileError(_("This zip file is not an Excel workbook. Upload a .xlsx or CSV file."))


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))  # a mobile typed as a number: 1712345678.0
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _read_xlsx(data: bytes) -> Table:
    _check_zip(data)
    import openpyxl  # imported here: only XLSX uploads pay for it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises a zoo (KeyError, ValueError, XML errors) for damaged files
        if type(exc).__name__ in ("EntitiesForbidden", "DTDForbidden", "ExternalReferenceForbidden"):
            raise ImportFileError(_("This workbook contains XML entities, which radbill refuses for safety. Save it "
                                  "again from Excel, or export it as CSV.")) from None
        raise ImportFileError(_("This Excel file cannot be read. Save it again from Excel, or export it as "
                              "CSV.")) from None
    try:
        sheet = book.worksheets[0]
        records, empty_run = [], 0
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_cell_text(v) for v in row[:MAX_COLUMNS + 1]]
            if not any(c.strip() for c in cells):
                empty_run += 1
                if empty_run >= MAX_EMPTY_RUN:
                    break
                continue
            empty_run = 0
            records.append((number, cells))
            if len(records) > MAX_ROWS + 1:
                break
    except Exception:
        raise ImportFileError(_("This Excel file cannot be read. Save it again from Excel, or export it as "
                              "CSV.")) from None
    finally:
        book.close()
    return _tabulate(records)


# ---- shared ---------------------------------------------------------------------------------------------

def _tabulate(records: list[tuple[int, list[str]]]) -> Table:
    """First non-empty record is the header; data rows are padded/trimmed to it, ragged ones remembered."""
    records = [(n, [c.strip()[:MAX_CELL_CHARS] for c in row]) for n, row in records]
    records = [(n, row) for n, row in records if any(row)]
    if not records:
        raise ImportFileError(_("The file is empty: it needs a header row and at least one customer."))
    header_line, headers = records[0]
    while headers and not headers[-1]:
        headers.pop()
    if len(headers) > MAX_COLUMNS:
        raise ImportFileError(_("The header row has %(count)s columns; a customer list has at most %(max)s. "
                                "Check that the first row holds the column names.",
                                count=len(headers), max=MAX_COLUMNS))
    if not headers:
        raise ImportFileError(_("The first row must hold the column names (Name, Mobile, Username, ...)."))
    body = records[1:]
    if not body:
        raise ImportFileError(_("The file has a header row but no customers under it."))
    if len(body) > MAX_ROWS:
        raise ImportFileError(_("The file has more than %(max)s customers. Split it into smaller files.",
                                max=format(MAX_ROWS, ",")))
    width = len(headers)
    table = Table(headers=[h or f"Column {i + 1}" for i, h in enumerate(headers)], rows=[], lines=[])
    for line, row in body:
        extra = [c for c in row[width:] if c]
        if extra:
            table.ragged[line] = len(extra)
        table.rows.append((row + [""] * width)[:width])
        table.lines.append(line)
    return table
