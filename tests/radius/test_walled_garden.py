"""radbill.services.walled_garden.customer_by_address against sessions opened through real accounting: the
portal recognises a suspended or expired customer by the Framed-IP-Address of their open session."""

import itertools
from datetime import UTC, datetime, timedelta

from radbill.services import ledger, walled_garden
from tests.radius.test_accounting import acct, session_id
from tests.radius.test_authorize import new_customer
from tests.support.radius import wait_folded

_n = itertools.count(1)


def address() -> str:
    n = next(_n)
    return f"10.77.{n // 200}.{n % 200 + 2}"


async def owe(conn, customer, amount_minor: int) -> None:
    """A receivable of `amount_minor` on the customer's ledger (what a bill posts), balanced by revenue."""
    receivable = await ledger.account_id(conn, "customer_receivable", customer["operator_id"], "BDT", customer["id"])
    revenue = await ledger.account_id(conn, "revenue", customer["operator_id"], "BDT")
    await ledger.post(conn, [ledger.Entry(receivable, amount_minor), ledger.Entry(revenue, -amount_minor)], "BDT",
                      "bill")


async def test_a_suspended_customer_is_found_by_the_address_of_the_open_session(radius, radius_db):
    customer = await new_customer(radius_db, radius, status="suspended", status_reason="unpaid")
    await owe(radius_db, customer, 52500)
    ip, sid = address(), session_id()
    acct(radius, customer["username"], sid, "Start", Framed_IP_Address=ip)
    wait_folded(radius.db_url)

    found = await walled_garden.customer_by_address(radius_db, ip)
    assert found is not None
    assert (found["customer_id"], found["state"], found["due_minor"], found["currency"]) == (
        customer["id"], "suspended", 52500, "BDT")
    assert found["framed_ip"] == ip

    acct(radius, customer["username"], sid, "Stop", Framed_IP_Address=ip, Acct_Session_Time=30)
    wait_folded(radius.db_url)
    assert await walled_garden.customer_by_address(radius_db, ip) is None  # the session is over


async def test_an_expired_customer_is_found_and_an_active_one_is_not(radius, radius_db):
    expired = await new_customer(radius_db, radius, expires_at=datetime.now(UTC) - timedelta(hours=1))
    active = await new_customer(radius_db, radius)
    expired_ip, active_ip = address(), address()
    acct(radius, expired["username"], session_id(), "Start", Framed_IP_Address=expired_ip)
    acct(radius, active["username"], session_id(), "Start", Framed_IP_Address=active_ip)
    wait_folded(radius.db_url)

    found = await walled_garden.customer_by_address(radius_db, expired_ip)
    assert found is not None and found["state"] == "expired" and found["due_minor"] == 0
    # a paying customer at an address is nobody the walled-garden page may name
    assert await walled_garden.customer_by_address(radius_db, active_ip) is None
    for nobody in ("10.77.250.250", "not an address", ""):
        assert await walled_garden.customer_by_address(radius_db, nobody) is None
