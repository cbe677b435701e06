"""Cash close through the admin: the day list, closing with what was handed over (once), the printable sheet, and
who sees whose day."""

from datetime import date
from zoneinfo import ZoneInfo

from radbill import clock
from tests.support.billing import form_key
from tests.support.db import connect


def today() -> str:
    return clock.now().astimezone(ZoneInfo("Asia/Dhaka")).date().isoformat()


async def test_close_a_collectors_day_print_it_and_it_stays_closed(make_client, tree, bills, fresh_db_url):
    mgr = await make_client("mgr_all")
    path = f"/customers/{tree.customers['a1']['id']}/collect"
    r = await mgr.post(path, {"kind": "cash", "amount": "500", "idempotency_key": await form_key(mgr, path)},
                       token_from=path)
    assert r.status == 303
    collector = tree.accounts["mgr_all"]["id"]
    day = f"/cash-close/{collector}?day={today()}"
    mine = await (await mgr.get("/cash-close")).text()
    assert "BDT 500.00" in mine and "Open" in mine
    assert "Close the day" not in await (await mgr.get(day)).text()  # a manager does not close their own cash
    assert (await mgr.post(day, {"handed_over": "500"}, token_from=day)).status == 403

    opa = await make_client("opa")
    bad = await opa.post(day, {"handed_over": "lots"}, token_from=day)
    assert bad.status == 422 and "is not an amount" in await bad.text()
    done = await opa.post(day, {"handed_over": "480", "note": "20 short"}, token_from=day)
    assert done.status == 303
    again = await opa.post(day, {"handed_over": "500"}, token_from=day)
    assert again.status == 422 and "already closed" in await again.text()
    page = await (await opa.get(day)).text()
    assert "Handed over" in page and "BDT 480.00" in page and "BDT -20.00" in page
    printed = await opa.get(f"/cash-close/{collector}/print?day={today()}")
    text = await printed.text()
    assert printed.status == 200 and "/billing/print.css" in text and "BDT 480.00" in text
    async with connect(fresh_db_url) as conn:
        row = await conn.fetchrow("SELECT * FROM cash_closes WHERE collector_id = $1", collector)
        assert (row["expected_minor"], row["handed_over_minor"], row["day"]) == (50000, 48000,
                                                                                date.fromisoformat(today()))


async def test_cash_close_pages_are_scoped(make_client, tree, bills):
    opa = await make_client("opa")
    path = f"/customers/{tree.customers['a1']['id']}/collect"
    await opa.post(path, {"kind": "cash", "amount": "500", "idempotency_key": await form_key(opa, path)},
                   token_from=path)
    day = f"/cash-close/{tree.accounts['opa']['id']}?day={today()}"
    for login, status in (("opa", 200), ("admin", 200), ("opb", 404), ("suba1", 404), ("mgr_all", 404),
                          ("mgr_none", 403)):
        c = await make_client(login)
        assert (await c.get(day)).status == status, login
    assert "OPA" not in await (await (await make_client("opb")).get("/cash-close")).text()
    assert (await opa.get("/cash-close?day=2026-13-45")).status == 400
