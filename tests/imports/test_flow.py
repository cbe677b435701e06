"""The wizard end to end through the admin: template → fill → upload → map → review → import → rollback."""

import csv
import io
import json
import re
import zlib

import asyncpg
import openpyxl

from radbill.importing import FIELDS
from tests.support.imports import csv_bytes, fetch, upload, wait_for_import


def filled_rows(template_rows, count, prefix="imp"):
    header, example = template_rows[0], template_rows[1]
    col = {h: i for i, h in enumerate(header)}
    rows = [header]
    for n in range(count):
        row = list(example)
        row[col["Name"]] = f"Customer {prefix} {n}"
        row[col["Username"]] = f"{prefix}{n:05d}"
        # a fixed number per prefix: hash() is salted per process, so "one" and "two" met 1 run in 10
        row[col["Mobile"]] = f"017{zlib.crc32(prefix.encode()) % 100:02d}{n:06d}"
        row[col["Zone"]] = "North" if n % 2 else "south"
        row[col["Package"]] = "Home 10" if n % 3 else "FAST 50"
        rows.append(row)
    return rows


def template_mapping():
    return {f"col_{i}": f.key for i, f in enumerate(FIELDS)}


async def run_wizard(client, data, filename, mapping=None, bill="next"):
    response = await upload(client, data, filename)
    assert response.status == 303, await response.text()
    map_path = response.headers["Location"]
    batch_id = int(re.search(r"/customers/import/(\d+)/map", map_path).group(1))
    page = await (await client.get(map_path)).text()
    assert "Review (dry run)" in page
    saved = await client.post(map_path, {**(mapping or template_mapping()), "action": "review"}, token_from=map_path)
    assert saved.status == 303, await saved.text()
    review = await (await client.get(f"/customers/import/{batch_id}/review")).text()
    started = await client.post(f"/customers/import/{batch_id}/start", {"bill": bill},
                                token_from=f"/customers/import/{batch_id}/review")
    assert started.status == 303 and started.headers["Location"] == f"/customers/import/{batch_id}"
    return batch_id, review


async def test_template_filled_with_1000_rows_imports_cleanly(make_client, catalog, fresh_db_url, tree):
    c = await make_client("suba1")
    template = await c.get("/customers/import/template.csv")
    assert template.status == 200 and "attachment" in template.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO((await template.read()).decode("utf-8-sig"))))
    assert rows[0] == [f.label for f in FIELDS] and rows[1][rows[0].index("Package")] in ("Home 10", "Fast 50")
    batch_id, review = await run_wizard(c, csv_bytes(filled_rows(rows, 1000)), "filled.csv")
    assert ">1000<" in review and "Import 1000 customers" in review, re.findall(r"<td>([^<]{8,})</td>", review)[:8]
    batch = await wait_for_import(fresh_db_url, batch_id)
    assert (batch["status"], batch["created_count"], batch["failed_count"]) == ("done", 1000, 0), batch["error"]
    got = await fetch(fresh_db_url, "SELECT c.operator_id, c.package_id, c.zone_id, count(*) FROM customers c"
                                    " JOIN import_batch_items i ON i.customer_id = c.id WHERE i.batch_id = $1"
                                    " GROUP BY 1, 2, 3", batch_id)
    assert sum(r["count"] for r in got) == 1000
    assert {r["operator_id"] for r in got} == {tree.ops["sub_a1"]["id"]}
    assert {r["package_id"] for r in got} == {catalog["pkg"]["id"], catalog["fast"]["id"]}
    assert {r["zone_id"] for r in got} == {catalog["north"]["id"], catalog["south"]["id"]}
    audit = await fetch(fresh_db_url, "SELECT count(*) FROM audit_log WHERE action = 'create'"
                                      " AND object_kind = 'customer' AND detail->>'import_batch' = $1", str(batch_id))
    assert audit[0]["count"] == 1000  # every row went through create_customer, the form's write path
    bills = await fetch(fresh_db_url, "SELECT count(*) FROM bills")
    assert bills[0]["count"] == 0  # "start billing at the next cycle"
    page = await (await c.get(f"/customers/import/{batch_id}")).text()
    assert "customers created" in page and "Roll back" in page
    listing = await (await c.get("/customers?q=imp00001")).text()
    assert "Customer imp 1" in listing


async def test_xlsx_template_round_trip(make_client, catalog, fresh_db_url):
    c = await make_client("suba1")
    template = await c.get("/customers/import/template.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(await template.read()))
    sheet = book.active
    rows = [[str(v or "") for v in r] for r in sheet.iter_rows(values_only=True)]
    sheet.delete_rows(2)
    for row in filled_rows(rows, 30, "xl")[1:]:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    batch_id, _ = await run_wizard(c, out.getvalue(), "filled.xlsx")
    batch = await wait_for_import(fresh_db_url, batch_id)
    assert (batch["status"], batch["created_count"]) == ("done", 30), batch["error"]


async def test_every_validation_error_reaches_the_review(make_client, catalog, fresh_db_url):
    c = await make_client("suba1")
    header = ["Name", "Phone", "User", "Password", "Type", "IP", "Speed", "Area", "MAC", "Price", "Sessions"]
    good = ["Good One", "01711111111", "good1", "", "pppoe", "", "Home 10", "North", "", "", ""]

    def row(**changes):
        values = dict(zip(header, good, strict=True))
        values.update(changes)
        return [values[h] for h in header]

    rows = [header,
            row(),
            row(Name="", User="noname"),
            row(Phone="12345", User="badphone"),
            row(User="bad user!"),
            row(User="badmac", MAC="zz:zz"),
            row(User="badip", Type="static", IP="300.1.1.1"),
            row(User="noip", Type="static"),
            row(User="badpkg", Speed="Gold 1G"),
            row(User="badzone", Area="Atlantis"),
            row(User="badprice", Price="12.345.6"),
            row(User="badsessions", Sessions="0"),
            row(User="badpassword", Password="pässwörd"),
            row(User="badtype", Type="carrier pigeon"),
            row(User="ragged") + ["surplus"],
            row(User="cust-a1"),                               # exists already (another operator's, even)
            row(User="good1"),                                 # twice in the file
            row(User="samephone", Phone="+880 1711-111111")]   # same mobile as the first row
    response = await upload(c, csv_bytes(rows, ";"), "messy.csv")
    map_path = response.headers["Location"]
    batch_id = int(map_path.split("/")[3])
    saved = await c.post(map_path, {"col_0": "name", "col_1": "mobile", "col_2": "username",
                                    "col_3": "radius_password", "col_4": "connection_type", "col_5": "static_ip",
                                    "col_6": "package", "col_7": "zone", "col_8": "mac_address", "col_9": "custom_price",
                                    "col_10": "simultaneous_use", "default_billing_profile_id": catalog["profile"]["id"],
                                    "action": "review"}, token_from=map_path)
    assert saved.status == 303, await saved.text()
    page = await (await c.get(f"/customers/import/{batch_id}/review")).text()
    expected = ["Enter the customer&#39;s name", "Bangladesh mobile number", "letters, digits, dot",
                "MAC address like", "IPv4 address", "A static-IP customer needs an address",
                "No package named “Gold 1G”", "No zone named “Atlantis”", "Enter a number from 1 to 100",
                "Choose PPPoE, Hotspot, Static IP or Other", "unquoted comma or semicolon",
                "The username cust-a1 already exists", "The username good1 already exists",
                "mobile +8801711111111 already exists", "printable ASCII only in the password"]
    missing = [text for text in expected if text not in page]
    assert not missing, missing
    assert "Custom price: " in page  # the amount parser's own sentence, under the column's name
    assert ">1<" in page  # exactly one new row
    problems = await c.get(f"/customers/import/{batch_id}/problems.csv")
    body = (await problems.read()).decode("utf-8-sig")
    fixed = list(csv.reader(io.StringIO(body)))
    assert fixed[0][-1] == "Problems" and len(fixed) == len(rows) - 1  # the header and every row but the good one
    counted = await fetch(fresh_db_url, "SELECT count(*) FROM customers WHERE username = 'good1'")
    assert counted[0]["count"] == 0  # the review is a dry run


async def test_rollback_removes_exactly_that_batch(make_client, catalog, fresh_db_url, tree):
    c = await make_client("suba1")
    header = [f.label for f in FIELDS]
    example = ["", "", "", "", "", "North", "", "", "PPPoE", "", "Home 10", "Monthly A", "", "", ""]
    first, _ = await run_wizard(c, csv_bytes(filled_rows([header, example], 4, "one")), "one.csv")
    done = await wait_for_import(fresh_db_url, first)
    assert (done["status"], done["created_count"], done["error"]) == ("done", 4, None)
    second, _ = await run_wizard(c, csv_bytes(filled_rows([header, example], 3, "two")), "two.csv")
    done = await wait_for_import(fresh_db_url, second)
    assert (done["status"], done["created_count"], done["error"]) == ("done", 3, None)
    edited = await fetch(fresh_db_url, "SELECT id FROM customers WHERE username = 'one00002'")
    conn = await asyncpg.connect(fresh_db_url)
    try:
        await conn.execute("INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime)"
                           " VALUES ('s1', 'u1', 'one00001', '10.0.1.1', now())")
    finally:
        await conn.close()
    path = f"/customers/{edited[0]['id']}"
    changed = await c.post(f"{path}/edit", {"name": "Edited", "connection_type": "pppoe", "username": "one00002",
                                            "billing_profile_id": catalog["profile"]["id"]}, token_from=f"{path}/edit")
    assert changed.status == 303, await changed.text()
    before = {r["username"] for r in await fetch(fresh_db_url, "SELECT username FROM customers")}
    asked = await c.post(f"/customers/import/{first}/rollback", token_from=f"/customers/import/{first}")
    text = await asked.text()
    assert asked.status == 200 and "2 customers this import created are deleted" in text
    assert "2 customers are kept because something happened to them since" in text
    assert {r["username"] for r in await fetch(fresh_db_url, "SELECT username FROM customers")} == before
    response = await c.post(f"/customers/import/{first}/rollback", {"confirm": "yes"},
                            token_from=f"/customers/import/{first}")
    assert response.status == 303
    after = {r["username"] for r in await fetch(fresh_db_url, "SELECT username FROM customers")}
    assert before - after == {"one00000", "one00003"}
    assert {"one00001", "one00002", "two00000", "two00001", "two00002", "cust-a1", "cust-b"} <= after
    page = await (await c.get(f"/customers/import/{first}")).text()
    assert "been online" in page and "edited since" in page and "removed by rollback" in page
    again = await c.post(f"/customers/import/{first}/rollback", {"confirm": "yes"},
                         token_from=f"/customers/import/{first}")
    assert again.status == 303  # refused with a message, nothing else happens
    assert {r["username"] for r in await fetch(fresh_db_url, "SELECT username FROM customers")} == after
    batch = await fetch(fresh_db_url, "SELECT status, rolled_back_count FROM import_batches WHERE id = $1", first)
    assert (batch[0]["status"], batch[0]["rolled_back_count"]) == ("rolled_back", 2)


async def test_bad_uploads_get_a_message_and_leave_nothing(make_client, catalog, fresh_db_url):
    c = await make_client("suba1")
    no_file = await c.post("/customers/import", {"file": "not a file"}, token_from="/customers/import")
    assert no_file.status == 303 and no_file.headers["Location"] == "/customers/import"
    for data, name in ((bytes(range(256)) * 50, "garbage.csv"), (b"x" * 2_050_000, "big.csv"),
                       (b"PK\x03\x04broken", "broken.xlsx")):
        response = await upload(c, data, name)
        assert response.status == 303 and response.headers["Location"] == "/customers/import", name
        page = await (await c.get("/customers/import")).text()
        assert name in page and "flash error" in page
    too_big = await upload(c, b"x" * 3_000_000, "huge.csv")
    assert too_big.status == 413  # past the admin's request limit: refused before anything reads it
    assert (await fetch(fresh_db_url, "SELECT count(*) FROM import_batches"))[0]["count"] == 0


async def test_foreign_batches_are_404(make_client, catalog, fresh_db_url):
    owner = await make_client("suba1")
    response = await upload(owner, csv_bytes([["Name", "Username"], ["A", "a1"]]), "a.csv")
    batch_id = int(response.headers["Location"].split("/")[3])
    other = await make_client("suba2")
    for path in ("/map", "/review", "", "/problems.csv"):
        assert (await other.get(f"/customers/import/{batch_id}{path}")).status == 404
    stored = await fetch(fresh_db_url, "SELECT mapping FROM import_batches WHERE id = $1", batch_id)
    assert json.loads(stored[0]["mapping"]) == {"0": "name", "1": "username"}


async def test_problems_file_neutralises_formulas(make_client, catalog):
    """An uploaded cell such as =HYPERLINK(...) comes back in the rows-to-fix file as text, never a formula."""
    c = await make_client("suba1")
    header = ["Name", "Phone", "User"]
    evil = '=HYPERLINK("http://evil.example/","Click")'
    rows = [header, [evil, "01711111111", "bad user!"], ["+cmd|' /C calc'!A0", "@SUM(1)", "-2+3"]]
    response = await upload(c, csv_bytes(rows), "evil.csv")
    map_path = response.headers["Location"]
    batch_id = int(map_path.split("/")[3])
    saved = await c.post(map_path, {"col_0": "name", "col_1": "mobile", "col_2": "username",
                                    "default_package_id": catalog["pkg"]["id"],
                                    "default_billing_profile_id": catalog["profile"]["id"], "action": "review"},
                         token_from=map_path)
    assert saved.status == 303, await saved.text()
    body = (await (await c.get(f"/customers/import/{batch_id}/problems.csv")).read()).decode("utf-8-sig")
    fixed = list(csv.reader(io.StringIO(body)))
    assert fixed[1][0] == "'" + evil
    assert fixed[2][:3] == ["'+cmd|' /C calc'!A0", "'@SUM(1)", "'-2+3"]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in fixed for cell in row)


async def test_the_mapping_page_shows_samples_the_secret_as_password_and_warns_of_a_dropped_login(
        make_client, catalog):
    c = await make_client("suba1")
    rows = [["Name", "Secret", "User ID", "Profile"], ["", "", "", ""], ["Rahim", "s3cret", "", "Home 10"],
            ["Karim", "pw2", "karim01", "Home 10"], ["Jamal", "pw3", "jamal02", "Fast 50"], ["Nadia", "pw4", "nadia", "x"]]
    response = await upload(c, csv_bytes(rows), "secrets.csv")
    assert response.status == 303, await response.text()
    map_path = response.headers["Location"]
    page = await (await c.get(map_path)).text()
    assert re.search(r'name="col_1"[^>]*>(?:(?!</select>).)*<option value="radius_password" selected', page, re.S)
    assert "s3cret · pw2 · pw3" in page and "karim01 · jamal02 · nadia" in page and "Home 10 · Fast 50 · x" in page
    assert "The column “User ID” looks like it holds usernames but is not imported" not in page  # proposed: mapped
    saved = await c.post(map_path, {"col_0": "name", "col_1": "radius_password", "col_3": "package",
                                    "action": "refresh"}, token_from=map_path)
    assert saved.status == 422  # no username column at all: a problem, and the left-out login column is named
    assert "The column “User ID” looks like it holds usernames but is not imported" in await saved.text()


async def test_rows_naming_an_ip_pool_get_its_free_addresses_through_the_wizard(make_client, catalog, fresh_db_url,
                                                                                tree):
    conn = await asyncpg.connect(fresh_db_url)
    try:  # operator A's pool, which its sub-operator's customers may take addresses from
        await conn.execute("INSERT INTO ip_pools (operator_id, name, start_ip, end_ip)"
                           " VALUES ($1, 'north-static', '10.77.0.1', '10.77.0.2')", tree.ops["op_a"]["id"])
    finally:
        await conn.close()
    c = await make_client("suba1")
    header = ["Name", "Username", "Package", "Billing profile", "IP pool"]
    rows = [[f"Pooled {n}", f"pooled{n}", "Home 10", "Monthly A", "North-Static"] for n in range(3)]
    batch_id, review = await run_wizard(c, csv_bytes([header, *rows]), "pooled.csv",
                                        mapping={f"col_{i}": key for i, key in enumerate(
                                            ["name", "username", "package", "billing_profile", "ip_pool"])})
    assert "Import 3 customers" in review
    batch = await wait_for_import(fresh_db_url, batch_id)
    assert (batch["status"], batch["created_count"], batch["failed_count"]) == ("done", 2, 1), batch["error"]
    items = await fetch(fresh_db_url, "SELECT i.username, host(c.static_ip) AS ip, c.connection_type, i.detail"
                                      "  FROM import_batch_items i LEFT JOIN customers c ON c.id = i.customer_id"
                                      " WHERE i.batch_id = $1 ORDER BY i.line", batch_id)
    assert [(r["username"], r["ip"], r["connection_type"]) for r in items] == [
        ("pooled0", "10.77.0.1", "static"), ("pooled1", "10.77.0.2", "static"), ("pooled2", None, None)]
    assert json.loads(items[2]["detail"]) == {
        "static_pool": "Pool north-static has no free address left; choose another pool or enter an address."}
