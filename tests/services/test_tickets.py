"""radbill.services.tickets: scope (staff and one customer), the thread, the reply SMS, photos, assign, lists."""

from __future__ import annotations

import hashlib
import json
import zlib

import pytest

from radbill.db.pool import set_scope
from radbill.errors import NotFound, ValidationError
from radbill.services import sms, tickets
from radbill.services.tickets import Photo
from radbill.tenancy import CustomerScope, Scope
from tests import factories as f

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(13) + zlib.compress(b"x")
GIF = b"GIF89a" + bytes(20)
HASH = "$argon2id$v=19$m=65536,t=3,p=4$" + "a" * 22 + "$" + "b" * 43


def staff(operator, account) -> Scope:
    return Scope(account_id=account["id"], operator_id=operator["id"], path=operator["path"], role=operator["kind"])


def me(customer, operator) -> CustomerScope:
    return CustomerScope(customer["id"], operator["id"], operator["path"])


async def account(conn, operator, name: str):
    role = "sub_operator" if operator["kind"] == "sub_operator" else "operator"
    return await f.insert(conn, "accounts", {"operator_id": operator["id"], "username": name, "password_hash": HASH,
                                             "full_name": name.title(), "role": role})


@pytest.fixture
async def world(db):
    isp = await f.isp(db)
    isp.sub2 = await f.operator(db, "sub_operator", isp.operator["id"])
    isp.customer = await f.customer(db, isp.sub["id"], isp.package["id"], isp.profile["id"], mobile="+8801711000001")
    isp.other = await f.customer(db, isp.sub2["id"], isp.package["id"], isp.profile["id"])
    isp.op_account = await account(db, isp.operator, f"op{isp.operator['id']}")
    isp.sub_account = await account(db, isp.sub, f"sub{isp.sub['id']}")
    isp.sub2_account = await account(db, isp.sub2, f"subtwo{isp.sub2['id']}")
    return isp


async def test_staff_open_and_reply_make_a_thread_and_queue_one_sms_per_reply(db, world):
    scope = staff(world.sub, world.sub_account)
    ticket = await tickets.open_ticket(db, scope, world.customer["id"], "slow", " Slow at night ", "Drops at 9 pm")
    assert (ticket["status"], ticket["subject"], ticket["opened_by"]) == ("open", "Slow at night", scope.account_id)

    await tickets.reply(db, scope, ticket["id"], "We changed your line profile.")
    assert (await tickets.get_ticket(db, scope, ticket["id"]))["status"] == "pending"
    sms_rows = await db.fetch("SELECT * FROM outbox WHERE kind = 'sms' AND payload->>'event' = 'ticket_reply'"
                              " AND (payload->>'customer_id')::bigint = $1", world.customer["id"])
    assert len(sms_rows) == 1
    payload = json.loads(sms_rows[0]["payload"])
    assert payload["ticket_id"] == ticket["id"]

    # the customer answers: the turn goes back to staff, and no SMS is sent to the customer about their own words
    await tickets.reply(db, me(world.customer, world.sub), ticket["id"], "Still slow.")
    assert (await tickets.get_ticket(db, scope, ticket["id"]))["status"] == "open"
    messages = await tickets.thread(db, scope, ticket["id"])
    assert [m["body"] for m in messages] == ["Drops at 9 pm", "We changed your line profile.", "Still slow."]
    assert [m["author_account_id"] for m in messages] == [scope.account_id, scope.account_id, None]
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE payload->>'event' = 'ticket_reply'"
                             " AND (payload->>'customer_id')::bigint = $1", world.customer["id"]) == 1
    actions = [r["action"] for r in await db.fetch(
        "SELECT action FROM audit_log WHERE object_kind = 'ticket' AND object_id = $1 ORDER BY id", ticket["id"])]
    assert actions == ["ticket.open", "ticket.reply", "ticket.reply"]


async def test_the_reply_sms_renders_with_the_default_template(db, world):
    scope = staff(world.operator, world.op_account)
    ticket = await tickets.open_ticket(db, scope, world.customer["id"], "billing", "Double charge", "Twice in May")
    await tickets.reply(db, scope, ticket["id"], "Refunded.")
    row = await db.fetchrow("SELECT * FROM outbox WHERE payload->>'event' = 'ticket_reply'"
                            " AND (payload->>'customer_id')::bigint = $1", world.customer["id"])
    message = await sms.make_event_message(db, row["id"], json.loads(row["payload"]))
    assert not isinstance(message, str), message
    assert f"#{ticket['id']} Double charge" in message["body"] and message["to_number"] == "+8801711000001"


async def test_a_ticket_outside_the_scope_is_not_found_everywhere(db, world):
    mine = await tickets.open_ticket(db, staff(world.sub, world.sub_account), world.customer["id"], "other", "Hi", "x")
    sibling = staff(world.sub2, world.sub2_account)
    for call in (tickets.get_ticket(db, sibling, mine["id"]), tickets.thread(db, sibling, mine["id"]),
                 tickets.reply(db, sibling, mine["id"], "no"), tickets.close(db, sibling, mine["id"]),
                 tickets.assign(db, sibling, mine["id"], world.sub2_account["id"]),
                 tickets.open_ticket(db, sibling, world.customer["id"], "other", "Hi", "x")):
        with pytest.raises(NotFound):
            await call
    # another customer of the same operator is as foreign to a customer as a stranger's ticket
    other_customer = me(world.other, world.sub2)
    with pytest.raises(NotFound):
        await tickets.get_ticket(db, other_customer, mine["id"])
    with pytest.raises(NotFound):
        await tickets.open_ticket(db, me(world.customer, world.sub), world.other["id"], "other", "Hi", "x")
    assert await db.fetchval("SELECT count(*) FROM ticket_messages WHERE ticket_id = $1", mine["id"]) == 1


@pytest.mark.parametrize("category,subject,text,field", [
    ("weather", "Hi", "x", "category"), ("slow", "  ", "x", "subject"), ("slow", "Hi", "", "text"),
    ("slow", "s" * 121, "x", "subject"), ("slow", "Hi", "x" * 4001, "text")])
async def test_bad_input_is_refused_with_the_field_and_stores_nothing(db, world, category, subject, text, field):
    before = await db.fetchval("SELECT count(*) FROM tickets")
    with pytest.raises(ValidationError) as refused:
        await tickets.open_ticket(db, me(world.customer, world.sub), world.customer["id"], category, subject, text)
    assert field in refused.value.fields
    assert await db.fetchval("SELECT count(*) FROM tickets") == before


async def test_a_photo_is_stored_by_hash_with_its_sniffed_type_and_others_are_refused(db, world, tmp_path):
    scope = me(world.customer, world.sub)
    ticket = await tickets.open_ticket(db, scope, world.customer["id"], "no_internet", "Red light", "See photo",
                                       photo=Photo(PNG, tmp_path))
    messages = await tickets.thread(db, scope, ticket["id"])
    assert messages[0]["attachment_type"] == "image/png" and messages[0]["attachment_size"] == len(PNG)
    stored = await tickets.attachment(db, scope, messages[0]["attachment_id"])
    assert (tmp_path / stored["sha256"]).read_bytes() == PNG and stored["sha256"] == hashlib.sha256(PNG).hexdigest()
    with pytest.raises(NotFound):
        await tickets.attachment(db, me(world.other, world.sub2), messages[0]["attachment_id"])

    for data, why in ((GIF, "wrong type"), (b"\xff\xd8\xff" + bytes(2 * 1024 * 1024), "too large")):
        with pytest.raises(ValidationError) as refused:
            await tickets.reply(db, scope, ticket["id"], "another", photo=Photo(data, tmp_path))
        assert refused.value.fields == {"photo": why}
    assert len(list(tmp_path.iterdir())) == 1
    assert len(await tickets.thread(db, scope, ticket["id"])) == 1


async def test_assign_only_to_staff_who_can_see_the_ticket(db, world):
    scope = staff(world.operator, world.op_account)
    ticket = await tickets.open_ticket(db, scope, world.customer["id"], "slow", "Slow", "x")
    with pytest.raises(ValidationError):  # the sibling reseller cannot see this customer
        await tickets.assign(db, scope, ticket["id"], world.sub2_account["id"])
    assigned = await tickets.assign(db, scope, ticket["id"], world.sub_account["id"])
    assert assigned["assigned_to"] == world.sub_account["id"]
    sub_scope = staff(world.sub, world.sub_account)
    assert [t["id"] for t in (await tickets.list_tickets(db, sub_scope, assigned_to_me=True))[0]] == [ticket["id"]]
    assert (await tickets.counts(db, sub_scope))["mine"] == 1
    with pytest.raises(ValidationError):  # nobody hands work up to their parent operator
        await tickets.assign(db, sub_scope, ticket["id"], world.op_account["id"])
    unassigned = await tickets.assign(db, scope, ticket["id"], None)
    assert unassigned["assigned_to"] is None


async def test_close_reopen_and_the_list_filters(db, world):
    scope = staff(world.operator, world.op_account)
    slow = await tickets.open_ticket(db, scope, world.customer["id"], "slow", "Slow", "x")
    bill = await tickets.open_ticket(db, scope, world.other["id"], "billing", "Bill", "x")
    closed = await tickets.close(db, scope, slow["id"])
    assert closed["status"] == "closed" and closed["closed_at"] is not None
    assert (await tickets.close(db, scope, slow["id"]))["closed_at"] == closed["closed_at"]  # a double click
    rows, more = await tickets.list_tickets(db, scope)
    assert [r["id"] for r in rows] == [bill["id"], slow["id"]] and not more  # unclosed first
    assert [r["id"] for r in (await tickets.list_tickets(db, scope, status="closed"))[0]] == [slow["id"]]
    assert [r["id"] for r in (await tickets.list_tickets(db, scope, category="billing"))[0]] == [bill["id"]]
    await set_scope(db, scope.path)  # the customer search reads the scope from the connection, as in the admin
    found = await tickets.list_tickets(db, scope, query=world.other["username"])
    assert [r["id"] for r in found[0]] == [bill["id"]]
    assert await tickets.counts(db, scope) == {"open": 1, "pending": 0, "mine": 0}
    reopened = await tickets.reopen(db, me(world.customer, world.sub), slow["id"])
    assert reopened["status"] == "open" and reopened["closed_at"] is None
    assert (await tickets.counts(db, scope))["open"] == 2
    assert [t["id"] for t in await tickets.customer_tickets(db, me(world.customer, world.sub))] == [slow["id"]]
