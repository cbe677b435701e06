"""Reading uploads: encodings, delimiters, ragged rows, XLSX limits, and a malformed-file corpus with 0 crashes."""

import io
import random
import zipfile

import openpyxl
import pytest

from radbill.importing import FIELDS, ImportFileError, read_table, template_xlsx
from radbill.importing.files import MAX_FILE_BYTES, MAX_ROWS

ROWS = [["Name", "Mobile", "Username"], ["Rahim Uddin", "01712345678", "rahim01"], ["Zoë Ça", "01812345678", "zoe"]]


def as_csv(rows, delimiter=",", encoding="utf-8"):
    return "\r\n".join(delimiter.join(r) for r in rows).encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_in_common_encodings_and_delimiters(encoding, delimiter):
    table = read_table(as_csv(ROWS, delimiter, encoding), "list.csv")
    assert table.headers == ["Name", "Mobile", "Username"]
    assert table.rows[1] == ["Zoë Ça", "01812345678", "zoe"]
    assert table.lines == [2, 3]


def test_ragged_rows_are_padded_or_flagged_per_line():
    data = as_csv([["Name", "Mobile", "Username"], ["A", "01712345678"], ["B", "01812345678", "b", "extra"]])
    table = read_table(data)
    assert table.rows == [["A", "01712345678", ""], ["B", "01812345678", "b"]]
    assert table.ragged == {3: 1}


def test_quoted_newlines_keep_line_numbers_of_the_file():
    data = b'Name,Address,Username\r\n"A","Road 1\r\nFlat 2",a\r\nB,x,b\r\n'
    table = read_table(data)
    assert table.rows[0][1] == "Road 1\r\nFlat 2" and table.lines[1] == 4


def xlsx(rows, styled_empty_rows=0):
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    for n in range(styled_empty_rows):
        sheet.cell(row=len(rows) + 1 + n, column=1).number_format = "@"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_numbers_become_text_and_the_template_reads_back():
    table = read_table(xlsx([["Name", "Mobile"], ["Rahim", 1712345678], ["Karim", 1812345678.0]]), "a.xlsx")
    assert table.rows == [["Rahim", "1712345678"], ["Karim", "1812345678"]]
    template = read_table(template_xlsx(["x"] * len(FIELDS)), "t.xlsx")
    assert template.headers[0] == "Name" and len(template.headers) == len(FIELDS)


def test_xlsx_with_thousands_of_styled_empty_rows_reads_only_the_data():
    table = read_table(xlsx([["Name", "Username"], ["A", "a"]], styled_empty_rows=20_000), "styled.xlsx")
    assert table.rows == [["A", "a"]]


def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"<" + b" " * 30_000_000 + b"/>")
    return out.getvalue()


def test_zip_bomb_is_refused_without_inflating_it():
    data = zip_bomb()
    assert len(data) < MAX_FILE_BYTES
    with pytest.raises(ImportFileError, match="zip bomb"):
        read_table(data, "bomb.xlsx")


def test_xml_entities_are_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx([["Name"], ["A"]]))) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            body = src.read(item)
            if item.filename == "xl/workbook.xml":
                body = (b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
                        + body.split(b"?>", 1)[-1])
            dst.writestr(item, body)
    with pytest.raises(ImportFileError):
        read_table(out.getvalue(), "entities.xlsx")


@pytest.mark.parametrize("data, filename, message", [
    (b"", "a.csv", "Choose a file"),
    (b"x" * (MAX_FILE_BYTES + 1), "big.csv", "the limit is"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old.xls", "old Excel"),
    (bytes(range(256)) * 10, "garbage.csv", "does not look like"),
    (b"just some text, no rows", "x.csv", "no customers"),
    (b"PK\x03\x04garbage", "broken.xlsx", "damaged"),
    (b"Name\n" + b"a\n" * (MAX_ROWS + 1), "many.csv", "Split it"),
    (b"hello", "fake.xlsx", "not an Excel workbook"),
])
def test_bad_files_get_a_sentence(data, filename, message):
    with pytest.raises(ImportFileError, match=message):
        read_table(data, filename)


def test_a_zip_claiming_an_unknown_version_is_refused_not_crashed():
    """Found by the corpus below in CI: a flipped header byte made zipfile raise NotImplementedError."""
    data = bytearray(xlsx(ROWS))
    directory = data.find(b"PK\x01\x02")
    data[directory + 6:directory + 8] = (117).to_bytes(2, "little")  # "version needed to extract": 11.7
    with pytest.raises(ImportFileError, match="damaged"):
        read_table(bytes(data), "upload.xlsx")


def test_malformed_corpus_never_crashes():
    """Truncated, bit-flipped and spliced CSVs and XLSXs: each is a Table or an ImportFileError, nothing else."""
    rng = random.Random(8)
    good = [as_csv(ROWS), as_csv(ROWS, ";", "cp1252"), xlsx(ROWS), template_xlsx(["x"] * len(FIELDS)), zip_bomb()]
    corpus = [b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b'"', b'a,"b\n', b"\r\r\r", b"PK\x03\x04", b";;;\n;;;"]
    for sample in good:
        for _ in range(40):
            data = bytearray(sample)
            for _ in range(rng.randint(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            corpus.append(bytes(data))
            corpus.append(sample[: rng.randrange(1, len(sample))])
        corpus.append(sample[: len(sample) // 2] + good[0])
    outcomes = {"table": 0, "refused": 0}
    for data in corpus:
        for name in ("upload.csv", "upload.xlsx"):
            try:
                read_table(data, name)
                outcomes["table"] += 1
            except ImportFileError as exc:
                assert str(exc).endswith(".")
                outcomes["refused"] += 1
    assert sum(outcomes.values()) == 2 * len(corpus) and outcomes["refused"] > 0
