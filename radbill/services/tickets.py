"""Support tickets: the one write path for opening, replying, assigning, closing and reopening, for staff (a
`Scope`) and for the customer in the portal (a `CustomerScope`); lists and dashboard counts.

A ticket is scoped exactly like its customer: staff see the tickets of customers in their subtree, a customer
sees their own; a foreign id is NotFound, like a missing one. Status says whose turn it is: `open` waits for
staff, `pending` waits for the customer (a staff reply), `closed` is done (a reply from either side reopens it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import asyncpg

from radbill.errors import NotFound, ValidationError
from radbill.i18n import _, lazy_gettext
from radbill.services import audit, sms_events, webhooks
from radbill.services.customers import get_customer
from radbill.services.filters import ScopedWhere, subtree_operator_ids
from radbill.services.uploads import StoredPhoto, store_photo
from radbill.tenancy import CustomerScope, Scope

CATEGORIES = {"no_internet": lazy_gettext("No internet"), "slow": lazy_gettext("Slow internet"),
              "billing": lazy_gettext("Billing"), "relocation": lazy_gettext("Moving / relocation"),
              "other": lazy_gettext("Other")}
STATUSES = {"open": lazy_gettext("Open"), "pending": lazy_gettext("Waiting for the customer"),
            "closed": lazy_gettext("Closed")}
PAGE_SIZE = 50
MAX_SUBJECT, MAX_BODY = 120, 4000

TICKET_SQL = """
    SELECT t.*, c.name AS customer_name, c.username AS customer_username, c.mobile AS customer_mobile,
           o.timezone, o.path::text AS operator_path, a.username AS assignee_username,
           a.full_name AS assignee_name
      FROM tickets t JOIN customers c ON c.id = t.customer_id JOIN operators o ON o.id = t.operator_id
      LEFT JOIN accounts a ON a.id = t.assigned_to
     WHERE t.id = $1 AND o.path <@ $2::ltree AND ($3::bigint IS NULL OR t.customer_id = $3)
"""
THREAD_SQL = """
    SELECT m.*, (m.author_account_id IS NOT NULL OR m.author_api_client_id IS NOT NULL) AS by_staff,
           a.username AS author_username, a.full_name AS author_name, x.id AS attachment_id,
           x.content_type AS attachment_type, x.size_bytes AS attachment_size
      FROM ticket_messages m LEFT JOIN accounts a ON a.id = m.author_account_id
      LEFT JOIN ticket_attachments x ON x.message_id = m.id
     WHERE m.ticket_id = $1 ORDER BY m.id
"""
ADD_MESSAGE = """
    INSERT INTO ticket_messages (ticket_id, operator_id, customer_id, author_account_id, body, author_api_client_id)
    VALUES ($1, $2, $3, $4, $5, $6) RETURNING *
"""
ADD_ATTACHMENT = """
    INSERT INTO ticket_attachments (message_id, operator_id, customer_id, sha256, content_type, size_bytes)
    VALUES ($1, $2, $3, $4, $5, $6)
"""
# an assignee must be active staff who can see the ticket (its operator or an ancestor) and be in the caller's
# own subtree (nobody hands work to their parent operator)
ASSIGNABLE = """
    SELECT a.id, a.username FROM accounts a JOIN operators o ON o.id = a.operator_id
     WHERE a.id = $1 AND a.status = 'active' AND o.path <@ $2::ltree AND o.path @> $3::ltree
"""


@dataclass(frozen=True)
class Photo:
    """An uploaded photo and where photos are kept (Config.var_dir / 'uploads')."""

    data: bytes
    uploads: Path


def _bounds(scope: Scope | CustomerScope) -> tuple[str, int | None]:
    """(subtree path, customer id or None): a customer's scope is their operator's path narrowed to them."""
    if isinstance(scope, CustomerScope):
        return scope.path, scope.customer_id
    return scope.path, None


def _actor(scope: Scope | CustomerScope) -> int | None:
    return None if isinstance(scope, CustomerScope) else scope.account_id


def _staff(scope: Scope | CustomerScope) -> Scope | None:
    """The audit row's actor: staff, or None for the customer (who has no login account; `_by` says so)."""
    return None if isinstance(scope, CustomerScope) else scope


def _by(scope: Scope | CustomerScope, detail: dict) -> dict:
    return {**detail, "by": "customer"} if isinstance(scope, CustomerScope) else detail


def _text(value, field: str, limit: int, missing: str) -> str:
    text = str(value or "").strip()
    if not text:
        raise ValidationError(missing, {field: "required"})
    if len(text) > limit:
        raise ValidationError(_("Keep it to %(n)s characters or fewer.", n=limit), {field: "too long"})
    return text


def _store(photo: Photo | None) -> StoredPhoto | None:
    return store_photo(photo.uploads, photo.data) if photo and photo.data else None


async def get_ticket(conn: asyncpg.Connection, scope: Scope | CustomerScope, ticket_id: int,
                     for_update: bool = False) -> asyncpg.Record:
    """The ticket with its customer's name and assignee, if the scope may see it; NotFound otherwise."""
    path, customer_id = _bounds(scope)
    row = await conn.fetchrow(TICKET_SQL + (" FOR NO KEY UPDATE OF t" if for_update else ""),
                              ticket_id, path, customer_id)
    if row is None:
        raise NotFound(_("Ticket %(id)s was not found.", id=ticket_id))
    return row


async def thread(conn: asyncpg.Connection, scope: Scope | CustomerScope, ticket_id: int) -> list[asyncpg.Record]:
    """The ticket's messages, oldest first, each with its author (NULL: the customer) and photo, if any."""
    ticket = await get_ticket(conn, scope, ticket_id)
    return await conn.fetch(THREAD_SQL, ticket["id"])


async def open_ticket(conn: asyncpg.Connection, scope: Scope | CustomerScope, customer_id: int, category: str,
                      subject: str, text: str, photo: Photo | None = None,
                      ip: str | None = None) -> asyncpg.Record:
    """Open a ticket for a customer in scope (the customer themselves, or staff on their behalf)."""
    if category not in CATEGORIES:
        raise ValidationError(_("Choose what the problem is about."), {"category": "unknown"})
    subject = _text(subject, "subject", MAX_SUBJECT, _("Write a short subject."))
    body = _text(text, "text", MAX_BODY, _("Describe the problem."))
    stored = _store(photo)
    async with conn.transaction():
        if isinstance(scope, CustomerScope):
            if customer_id != scope.customer_id:
                raise NotFound(_("Customer %(id)s was not found.", id=customer_id))
            operator_id = scope.operator_id
        else:
            operator_id = (await get_customer(conn, scope, customer_id))["operator_id"]
        ticket = await conn.fetchrow(
            "INSERT INTO tickets (operator_id, customer_id, category, subject, opened_by)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING *", operator_id, customer_id, category, subject, _actor(scope))
        await _add_message(conn, ticket, scope, body, stored)
        await _emit(conn, ticket, "opened", {"status": ticket["status"], "subject": subject})
        await audit.record(conn, _staff(scope), "ticket.open", "ticket", ticket["id"],
                           _by(scope, {"category": category, "subject": subject}), ip,
                           operator_id=ticket["operator_id"])
    return await get_ticket(conn, scope, ticket["id"])


async def _emit(conn, ticket, change: str, fields: dict) -> None:
    """ticket.updated: what changed (opened, replied, assigned, closed, reopened) and the changed fields."""
    await webhooks.emit(conn, "ticket.updated", ticket["operator_id"], {
        "ticket_id": ticket["id"], "customer_id": ticket["customer_id"], "change": change, **fields})


async def _add_message(conn, ticket, scope: Scope | CustomerScope, body: str,
                       stored: StoredPhoto | None) -> asyncpg.Record:
    # an API client writes as staff: no login account, its client id instead (a CustomerScope has neither)
    message = await conn.fetchrow(ADD_MESSAGE, ticket["id"], ticket["operator_id"], ticket["customer_id"],
                                  _actor(scope), body, getattr(scope, "api_client_id", None))
    if stored:
        await conn.execute(ADD_ATTACHMENT, message["id"], ticket["operator_id"], ticket["customer_id"],
                           stored.sha256, stored.content_type, stored.size_bytes)
    return message


async def reply(conn: asyncpg.Connection, scope: Scope | CustomerScope, ticket_id: int, text: str,
                photo: Photo | None = None, ip: str | None = None) -> asyncpg.Record:
    """Add a message. A staff reply hands the turn to the customer (pending) and queues the ticket_reply SMS;
    a customer's message hands it back to staff (open). Either reopens a closed ticket."""
    body = _text(text, "text", MAX_BODY, _("Write the reply."))
    stored = _store(photo)
    staff = not isinstance(scope, CustomerScope)
    async with conn.transaction():
        ticket = await get_ticket(conn, scope, ticket_id, for_update=True)
        message = await _add_message(conn, ticket, scope, body, stored)
        status = "pending" if staff else "open"
        await conn.execute("UPDATE tickets SET status = $2, closed_at = NULL, updated_at = now() WHERE id = $1",
                           ticket["id"], status)
        outbox_id = None
        if staff:
            outbox_id = await sms_events.queue_event(
                conn, ticket["operator_id"], ticket["customer_id"], "ticket_reply",
                f"sms:ticket_reply:{message['id']}", ticket_id=ticket["id"], subject=ticket["subject"])
        await _emit(conn, ticket, "replied", {"status": [ticket["status"], status], "message_id": message["id"],
                                              "by": "staff" if staff else "customer"})
        await audit.record(conn, _staff(scope), "ticket.reply", "ticket", ticket["id"],
                           _by(scope, {"status": [ticket["status"], status],
                                       "outbox_ids": [outbox_id] if outbox_id else []}), ip,
                           operator_id=ticket["operator_id"])
    return message


async def assign(conn: asyncpg.Connection, scope: Scope, ticket_id: int, account_id: int | None,
                 ip: str | None = None) -> asyncpg.Record:
    """Give the ticket to a staff member who can see it (None: unassign); the same assignee again is a no-op."""
    async with conn.transaction():
        ticket = await get_ticket(conn, scope, ticket_id, for_update=True)
        if ticket["assigned_to"] == account_id:
            return ticket
        username = None
        if account_id is not None:
            account = await conn.fetchrow(ASSIGNABLE, account_id, scope.path, ticket["operator_path"])
            if account is None:
                raise ValidationError(_("Choose a staff member from the list."), {"assigned_to": "unknown"})
            username = account["username"]
        await conn.execute("UPDATE tickets SET assigned_to = $2, updated_at = now() WHERE id = $1",
                           ticket["id"], account_id)
        await _emit(conn, ticket, "assigned", {"assigned_to": [ticket["assigned_to"], account_id]})
        await audit.record(conn, scope, "ticket.assign", "ticket", ticket["id"],
                           {"assigned_to": [ticket["assignee_username"], username]}, ip,
                           operator_id=ticket["operator_id"])
    return await get_ticket(conn, scope, ticket_id)


async def close(conn: asyncpg.Connection, scope: Scope | CustomerScope, ticket_id: int,
                ip: str | None = None) -> asyncpg.Record:
    """Close the ticket (closing a closed one is a no-op)."""
    return await _set_status(conn, scope, ticket_id, "closed", ip)


async def reopen(conn: asyncpg.Connection, scope: Scope | CustomerScope, ticket_id: int,
                 ip: str | None = None) -> asyncpg.Record:
    """Reopen a closed ticket: it waits for staff again."""
    return await _set_status(conn, scope, ticket_id, "open", ip)


async def _set_status(conn, scope, ticket_id: int, status: str, ip: str | None) -> asyncpg.Record:
    async with conn.transaction():
        ticket = await get_ticket(conn, scope, ticket_id, for_update=True)
        if ticket["status"] == status or (status == "open" and ticket["status"] != "closed"):
            return ticket
        await conn.execute(
            "UPDATE tickets SET status = $2, updated_at = now(),"
            " closed_at = CASE WHEN $2 = 'closed' THEN now() END WHERE id = $1", ticket["id"], status)
        detail = _by(scope, {"status": [ticket["status"], status]})
        await _emit(conn, ticket, "closed" if status == "closed" else "reopened", {"status": [ticket["status"], status]})
        if status == "closed":
            await audit.record(conn, _staff(scope), "ticket.close", "ticket", ticket["id"], detail, ip,
                               operator_id=ticket["operator_id"])
        else:
            await audit.record(conn, _staff(scope), "ticket.reopen", "ticket", ticket["id"], detail, ip,
                               operator_id=ticket["operator_id"])
    return await get_ticket(conn, scope, ticket_id)


# The page's ticket ids first (tickets only, top-N by the ordering), then their customers: joining customers for
# the whole scope made the group admin's list a 100,000-row hash join (170 ms at 100k customers, 5k tickets).
LIST_SQL = """
    WITH page AS MATERIALIZED (
        SELECT t.id FROM tickets t {customer_join}
         WHERE {where}
         ORDER BY (t.status = 'closed'), t.updated_at DESC, t.id DESC
         LIMIT {limit} OFFSET {offset})
    SELECT t.id, t.category, t.subject, t.status, t.created_at, t.updated_at, t.customer_id,
           c.name AS customer_name, c.username AS customer_username, a.username AS assignee_username
      FROM page JOIN tickets t ON t.id = page.id JOIN customers c ON c.id = t.customer_id
      LEFT JOIN accounts a ON a.id = t.assigned_to
     ORDER BY (t.status = 'closed'), t.updated_at DESC, t.id DESC
"""


async def list_tickets(conn: asyncpg.Connection, scope: Scope, status: str | None = None,
                       category: str | None = None, assigned_to_me: bool = False, query: str = "",
                       customer_id: int | None = None, page: int = 1) -> tuple[list[asyncpg.Record], bool]:
    """One page of tickets in scope (unclosed first, latest activity first); returns (rows, has_more).
    `query` finds the customer (ID, mobile, a piece of name/username/mobile), as the customer search does."""
    where = ScopedWhere(scope, "t.operator_id", await subtree_operator_ids(conn, scope))
    if status in STATUSES:
        where.add(f"t.status = {where.arg(status)}")
    if category in CATEGORIES:
        where.add(f"t.category = {where.arg(category)}")
    if assigned_to_me:
        where.add(f"t.assigned_to = {where.arg(scope.account_id)}")
    if customer_id is not None:
        where.add(f"t.customer_id = {where.arg(customer_id)}")
    where.customer(query)  # its fragments name the customers row `c`: joined in the page only when searching
    offset = (max(page, 1) - 1) * PAGE_SIZE
    # fixed fragments with numbered parameters (ScopedWhere): no typed text reaches the SQL
    sql = LIST_SQL.format(where=where.sql, limit=PAGE_SIZE + 1, offset=int(offset),
                          customer_join="JOIN customers c ON c.id = t.customer_id" if query.strip() else "")
    rows = await conn.fetch(sql, *where.args)
    return list(rows[:PAGE_SIZE]), len(rows) > PAGE_SIZE


async def customer_tickets(conn: asyncpg.Connection, scope: CustomerScope) -> list[asyncpg.Record]:
    """The customer's own tickets, newest first (the portal's list)."""
    return await conn.fetch(
        "SELECT t.id, t.category, t.subject, t.status, t.created_at, t.updated_at FROM tickets t"
        " WHERE t.customer_id = $1 ORDER BY t.created_at DESC, t.id DESC", scope.customer_id)


async def counts(conn: asyncpg.Connection, scope: Scope) -> dict[str, int]:
    """Tickets in scope per status, and those open and assigned to the caller (the dashboard tile)."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE status = 'open') AS open,"
        "       count(*) FILTER (WHERE status = 'pending') AS pending,"
        "       count(*) FILTER (WHERE status <> 'closed' AND assigned_to = $2) AS mine"
        "  FROM tickets WHERE operator_id = ANY ($1::bigint[])",
        await subtree_operator_ids(conn, scope), scope.account_id)
    return dict(row)


async def assignable_staff(conn: asyncpg.Connection, scope: Scope, ticket: asyncpg.Record) -> list[asyncpg.Record]:
    """Who the ticket may be given to (the same rule `assign` checks)."""
    return await conn.fetch(
        "SELECT a.id, a.username, a.full_name FROM accounts a JOIN operators o ON o.id = a.operator_id"
        " WHERE a.status = 'active' AND o.path <@ $1::ltree AND o.path @> $2::ltree ORDER BY a.username",
        scope.path, ticket["operator_path"])


async def attachment(conn: asyncpg.Connection, scope: Scope | CustomerScope,
                     attachment_id: int) -> asyncpg.Record:
    """A photo's sha256 and type, if its ticket is in scope; NotFound otherwise."""
    path, customer_id = _bounds(scope)
    row = await conn.fetchrow(
        "SELECT x.* FROM ticket_attachments x JOIN operators o ON o.id = x.operator_id"
        " WHERE x.id = $1 AND o.path <@ $2::ltree AND ($3::bigint IS NULL OR x.customer_id = $3)",
        attachment_id, path, customer_id)
    if row is None:
        raise NotFound(_("The photo was not found."))
    return row
