"""A portal login code reaches the phone, and no outbox or SMS table keeps it readable, before or after sending."""

from __future__ import annotations

import json
import re

from radbill.services import otp_sms
from radbill.services import portal_auth as pa
from tests.support.sms import settle

# every text and jsonb column of the outbox's and the SMS history's tables (whatever migrations add later)
COLUMNS = """
    SELECT table_name, column_name FROM information_schema.columns
     WHERE table_schema = 'public' AND (table_name LIKE 'outbox%' OR table_name LIKE 'sms%')
       AND data_type IN ('text', 'jsonb', 'json', 'character varying')
     ORDER BY 1, 2
"""


async def rows_holding(conn, code: str) -> list[tuple[str, str]]:
    """(table, column) of every value holding `code` as a number of its own (not inside a longer one, such as
    the customer's mobile number)."""
    found = []
    for table, column in await conn.fetch(COLUMNS):
        if await conn.fetchval(f'SELECT exists(SELECT 1 FROM "{table}" WHERE "{column}"::text ~ $1)',
                               f"(^|[^0-9]){code}([^0-9]|$)"):
            found.append((table, column))
    return found


async def test_a_login_code_is_readable_only_on_its_way_to_the_phone(isp, conn, pool):
    assert await pa.request_code(conn, "01712345678", "192.0.2.7")
    payload = await conn.fetchval("SELECT payload FROM outbox WHERE payload->>'event' = 'portal_otp'")
    queued = otp_sms.code_in(json.loads(payload))
    assert await rows_holding(conn, queued) == []  # queued: sealed
    await settle(pool)
    [got] = isp.provider.accepted()
    code = re.match(r"(\d{6}) is your Dhaka Net login code\.", got.message).group(1)  # the phone has it
    assert code == queued and await rows_holding(conn, code) == []
    message = await conn.fetchrow("SELECT * FROM sms_messages WHERE event = 'portal_otp'")
    assert message["status"] == "sent" and message["body"] == got.message.replace(code, otp_sms.MASK)
    assert message["segments"] == 1  # counted on the text sent (the mask is not GSM-7: it would make 2)

    # the sealed code still logs the customer in (within its 5 minutes)
    token, session = await pa.login_with_code(conn, "01712345678", code, "192.0.2.7")
    assert token and session.customer_id == isp.customer["id"]
