"""Data top-ups in the portal over real HTTP and Postgres: the packs, the confirmation's figures, a purchase that
writes the ledger and the data_topups row, a refusal that writes nothing, a foreign pack (404) and a double press
that buys once."""

import asyncio
import re
from datetime import timedelta

import pytest

from radbill.localize import long_date
from radbill.services import fair_usage, payments
from radbill.tenancy import Scope
from tests.portal.customer_http import get, log_in, post
from tests.support.portal import Portal

GB = 10**9


@pytest.fixture
async def capped(portal: Portal):
    """The customer's package gets a 100 GB cap, the bill is paid, a 20 GB pack at 150.00 is offered by the
    customer's parent operator (a reseller's customer buys the parent's packs); logged in. Returns (pack id, csrf)."""
    p, w, c = portal, portal.w, portal.w.customer
    await p.owner.execute("UPDATE packages SET data_cap_bytes = $2 WHERE id = $1", c["package_id"], 100 * GB)
    await p.owner.execute("UPDATE operators SET credit_limit_minor = 10000000 WHERE id = $1", w.sub["id"])
    await payments.record_cash_payment(p.owner, w.system, c["id"], w.bill["total_minor"], w.bill["id"])
    parent = Scope.system(w.operator["id"], str(w.operator["path"]))
    pack = await fair_usage.create_pack(p.owner, parent, {"name": "20 GB extra", "size_gb": "20", "price": "150"})
    return pack, await log_in(p, c["username"], c["radius_password"])


async def _advance(p: Portal, minor: int) -> None:
    await payments.add_advance_payment(p.owner, p.w.system, p.w.customer["id"], minor)


async def _wallet(p: Portal) -> int:
    return await p.owner.fetchval(fair_usage.WALLET, p.w.customer["id"], "BDT")


async def _topups(p: Portal) -> list:
    return await p.owner.fetch("SELECT * FROM data_topups WHERE customer_id = $1", p.w.customer["id"])


def _seen(page: str) -> str:
    return re.search(r'name="seen" value="(\d+)"', page).group(1)


async def test_a_customer_buys_a_pack_from_the_advance_balance(portal: Portal, capped):
    p, (pack, csrf) = portal, capped
    await _advance(p, 20000)
    status, home, _h = await get(p, "/")
    assert status == 200 and b'href="/data-topups" id="buy-data"' in home and b'id="nav-data-topups"' in home
    status, page, _h = await get(p, "/data-topups")
    assert status == 200 and b"20 GB extra" in page and b"150.00" in page
    status, page, _h = await get(p, f"/data-topups/{pack}")
    page = page.decode()
    assert status == 200 and "200.00" in page and "50.00" in page
    end = await p.owner.fetchval("SELECT cap_window_end FROM radius_policy WHERE customer_id = $1", p.w.customer["id"])
    last_day = long_date(end - timedelta(microseconds=1), "Asia/Dhaka")  # the last day the window covers
    assert f"Valid until the end of this data period, {last_day}." in page
    status, done, _h = await post(p, f"/data-topups/{pack}", {"csrf_token": csrf, "seen": _seen(page)})
    assert status == 200 and "20 GB more data is yours" in done
    [topup] = await _topups(p)
    assert (topup["bytes"], topup["price_minor"], topup["pack_id"]) == (20 * GB, 15000, pack)
    lines = await p.owner.fetch("SELECT a.kind, e.amount_minor FROM ledger_entries e JOIN ledger_accounts a"
                                " ON a.id = e.account_id WHERE e.txn_id = $1 ORDER BY a.kind", topup["txn_id"])
    assert [(r["kind"], r["amount_minor"]) for r in lines] == [("customer_advance", 15000), ("revenue", -15000)]
    assert await _wallet(p) == 5000


async def test_too_little_balance_says_what_is_missing_and_writes_nothing(portal: Portal, capped):
    p, (pack, csrf) = portal, capped
    await _advance(p, 10000)
    status, page, _h = await get(p, f"/data-topups/{pack}")
    page = page.decode()
    assert status == 200 and "you need" in page and 'href="/bills?amount=50.00#topup"' in page
    assert 'id="buy"' not in page
    status, bills, _h = await get(p, "/bills?amount=50.00")
    assert status == 200 and b'value="50.00"' in bills  # the advance form is pre-filled
    status, refused, _h = await post(p, f"/data-topups/{pack}", {"csrf_token": csrf, "seen": "0"})
    assert status == 400 and "Nothing was bought" in refused
    assert await _topups(p) == [] and await _wallet(p) == 10000


async def test_another_operators_pack_is_not_found(portal: Portal, capped):
    p, (_pack, csrf) = portal, capped
    await _advance(p, 20000)
    other = await p.owner.fetchrow("INSERT INTO operators (kind, name, parent_id) SELECT 'operator', 'Other ISP', id"
                                   " FROM operators WHERE kind = 'group_admin' RETURNING id, path")
    foreign = await fair_usage.create_pack(p.owner, Scope.system(other["id"], str(other["path"])),
                                           {"name": "Other 50 GB", "size_gb": "50", "price": "10"})
    status, page, _h = await get(p, f"/data-topups/{foreign}")
    assert status == 404 and b"Other 50 GB" not in page
    status, _page, _h = await post(p, f"/data-topups/{foreign}", {"csrf_token": csrf, "seen": "0"})
    assert status == 404 and await _topups(p) == [] and await _wallet(p) == 20000


async def test_pressing_buy_twice_buys_once(portal: Portal, capped):
    p, (pack, csrf) = portal, capped
    await _advance(p, 50000)  # enough for three: only the token stops a second purchase
    _s, page, _h = await get(p, f"/data-topups/{pack}")
    form = {"csrf_token": csrf, "seen": _seen(page.decode())}
    answers = await asyncio.gather(*(post(p, f"/data-topups/{pack}", form) for _ in range(2)))
    again = await post(p, f"/data-topups/{pack}", form)  # a reload of the same confirmation later
    assert sorted(s for s, _t, _h in [*answers, again]) == [200, 200, 200]
    assert sum("charged only once" in t for _s, t, _h in [*answers, again]) == 2
    assert len(await _topups(p)) == 1 and await _wallet(p) == 35000


async def test_without_a_data_cap_there_is_nothing_to_buy(portal: Portal):
    p, c = portal, portal.w.customer
    await log_in(p, c["username"], c["radius_password"])
    status, home, _h = await get(p, "/")
    assert status == 200 and b"nav-data-topups" not in home
    status, page, _h = await get(p, "/data-topups")
    assert status == 200 and b'id="no-cap"' in page
