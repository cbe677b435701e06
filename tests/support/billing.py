"""Bills for the admin tests' tree, and the idempotency key a payment form carries."""

from __future__ import annotations

import re
from datetime import date, timedelta

from radbill import clock
from radbill.billing.periods import Cycle, local_date, period_containing
from radbill.services import billing
from tests.support.db import connect

KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


async def issue_bills(url: str) -> dict:
    """Every tree customer billed in full for the current period (500.00, due now): {'a1': bill row, ...}.
    The run is an hour into the current period (the tree's profiles: the 1st, Asia/Dhaka), before the next
    period's lead window, so each customer gets exactly one bill whatever the day of the month."""
    async with connect(url) as conn:
        await conn.execute("UPDATE customers SET billing_anchor = $1", date(2000, 1, 1))
        current = period_containing(Cycle("fixed_day", 1), local_date(clock.now(), "Asia/Dhaka"))
        await billing.generate_bills(conn, current.start_at("Asia/Dhaka") + timedelta(hours=1))
        rows = await conn.fetch("SELECT b.*, c.username FROM bills b JOIN customers c ON c.id = b.customer_id")
    return {r["username"].removeprefix("cust-"): r for r in rows}


async def form_key(client, path: str, form_class: str | None = None) -> str:
    """The idempotency key rendered into the payment form on `path` (the first, or the one after `form_class`)."""
    page = await (await client.get(path)).text()
    if form_class:
        page = page.split(f'class="{form_class}"', 1)[1]
    match = KEY.search(page)
    assert match, f"no idempotency key on {path}"
    return match.group(1)
