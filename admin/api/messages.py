"""SMS and support tickets over the API: the admin's SMS history and send path (radbill.services.sms_broadcast)
and its ticket services (radbill.services.tickets), with the permissions the admin's pages declare."""

from __future__ import annotations

import json

from admin.api import pagination
from admin.api.problems import json_response
from admin.api.registry import Call, Param, api_route
from radbill.services import idempotency, sms_broadcast, tickets
from radbill.services.idempotency import Response
from radbill.sms import EVENTS

SEND = "sms.send"
VIEW, EDIT = "customers.view", "customers.edit"  # as admin/views/tickets.py
_INT = {"type": "integer"}
_INT_OR_NULL = {"type": ["integer", "null"]}
_TEXT = {"type": "string"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}

SMS = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "created_at", "to_number", "body", "segments", "event", "status", "channel"],
    "properties": {
        "id": _INT, "created_at": _TIME, "sent_at": _TIME_OR_NULL, "delivered_at": _TIME_OR_NULL,
        "to_number": _TEXT, "body": _TEXT, "segments": _INT, "event": _TEXT,
        "status": {"type": "string", "enum": list(sms_broadcast.HISTORY_STATUSES)}, "error": _TEXT_OR_NULL,
        "channel": {"type": "string", "enum": list(sms_broadcast.HISTORY_CHANNELS)},
        "cost_minor": _INT, "currency": _TEXT, "broadcast_id": _INT_OR_NULL, "username": _TEXT_OR_NULL,
        "operator_name": _TEXT,
    },
}
TICKET = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "customer_id", "category", "subject", "status", "created_at", "updated_at"],
    "properties": {
        "id": _INT, "customer_id": _INT, "customer_name": _TEXT, "customer_username": _TEXT,
        "category": {"type": "string", "enum": list(tickets.CATEGORIES)}, "subject": _TEXT,
        "status": {"type": "string", "enum": list(tickets.STATUSES)}, "assignee_username": _TEXT_OR_NULL,
        "created_at": _TIME, "updated_at": _TIME,
    },
}
MESSAGE = {
    "type": "object", "additionalProperties": False, "required": ["id", "by_staff", "body", "created_at"],
    "properties": {"id": _INT, "by_staff": {"type": "boolean", "description": "false: the customer wrote it"},
                   "author_username": _TEXT_OR_NULL, "body": _TEXT, "created_at": _TIME,
                   "attachment_id": _INT_OR_NULL},
}
TICKET_WITH_THREAD = {**TICKET, "required": [*TICKET["required"], "messages"],
                      "properties": {**TICKET["properties"], "messages": {"type": "array", "items": MESSAGE}}}


def _pick(row, schema: dict) -> dict:
    return {k: row[k] for k in schema["properties"] if k in row}


def _page_number(call: Call) -> int:
    # these lists are the admin's pages (newest first, fixed size): the cursor carries the next page's number
    after = pagination.decode(call.query["cursor"], 1)
    return after[0] if after and after[0] > 0 else 1


# ---- SMS -----------------------------------------------------------------------------------------------------

@api_route("GET", "/sms", permission=SEND, summary="Message history (SMS and WhatsApp)", tags=("sms",),
           query=(Param("status", enum=sms_broadcast.HISTORY_STATUSES), Param("event", enum=(*EVENTS, *sms_broadcast.OTHER_KINDS)),
                  Param("channel", enum=sms_broadcast.HISTORY_CHANNELS, description="Only messages sent this way."),
                  Param("mobile", description="Only messages to this number."),
                  Param("broadcast_id", "integer", minimum=1), pagination.CURSOR),
           response=pagination.page_schema(SMS), errors=(422,))
async def sms_history(call: Call):
    """The admin's message history (SMS and WhatsApp; 'read' is WhatsApp's) and filters, newest first (100 a
    page)."""
    q, page = call.query, _page_number(call)
    async with call.pool.acquire() as conn:
        rows, more = await sms_broadcast.history(conn, call.scope, status=q["status"], event=q["event"],
                                                 mobile=q["mobile"], broadcast_id=q["broadcast_id"], page=page,
                                                 channel=q["channel"])
    return pagination.page([_pick(r, SMS) for r in rows], [page + 1] if more else None)


SEND_BODY = {"type": "object", "required": ["text"],
             "properties": {"text": {"type": "string", "description": "The message; may use {customer_name}, "
                                     "{username}, {package}, {expiry} and {isp_name}."}}}
QUEUED = {"type": "object", "additionalProperties": False, "required": ["broadcast_id", "status"],
          "properties": {"broadcast_id": {"type": "integer", "description": "Its progress: the SMS history "
                                                                             "filtered by broadcast_id."},
                         "status": {"type": "string", "enum": ["queued"]}}}


@api_route("POST", "/customers/{customer_id}/sms", permission=SEND, status=202, tags=("sms",),
           summary="Send an SMS to a customer", body=SEND_BODY, response=QUEUED, errors=(409,))
async def send_sms(call: Call):
    """Queued through the broadcast send path (the SMS balance is checked and charged). An optional
    Idempotency-Key header makes a retry safe: the same key and text answer the first response again."""
    customer_id, text = call.path["customer_id"], str(call.body["text"])

    async def action(conn) -> Response:
        broadcast_id = await sms_broadcast.send_to_customer(conn, call.scope, customer_id, text, call.ip)
        return Response(202, {"broadcast_id": broadcast_id, "status": "queued"})

    raw_key = call.request.headers.get("Idempotency-Key")
    async with call.pool.acquire() as conn:
        if raw_key is None:
            return (await action(conn)).body
        key = idempotency.check_key(raw_key)
        body = json.dumps(call.body, sort_keys=True, separators=(",", ":")).encode()
        response = await idempotency.run(conn, call.scope, call.client.id, key,
                                         idempotency.fingerprint("POST", call.request.path, body), action)
    return json_response(response.body, response.status,
                         {"Idempotent-Replayed": "true"} if response.replayed else None)


# ---- tickets -------------------------------------------------------------------------------------------------

@api_route("GET", "/tickets", permission=VIEW, summary="List support tickets", tags=("tickets",),
           query=(Param("status", enum=tuple(tickets.STATUSES)), Param("category", enum=tuple(tickets.CATEGORIES)),
                  Param("customer_id", "integer", minimum=1),
                  Param("q", description="Customer ID, mobile, or part of the name, username or mobile."),
                  pagination.CURSOR),
           response=pagination.page_schema(TICKET))
async def list_tickets(call: Call):
    """The admin's ticket list: unclosed first, latest activity first (50 a page)."""
    q, page = call.query, _page_number(call)
    async with call.pool.acquire() as conn:
        rows, more = await tickets.list_tickets(conn, call.scope, status=q["status"], category=q["category"],
                                                query=q["q"] or "", customer_id=q["customer_id"], page=page)
    return pagination.page([_pick(r, TICKET) for r in rows], [page + 1] if more else None)


async def _ticket(conn, call: Call, ticket_id: int) -> dict:
    ticket = await tickets.get_ticket(conn, call.scope, ticket_id)
    messages = await tickets.thread(conn, call.scope, ticket_id)
    return {**_pick(ticket, TICKET), "messages": [_pick(m, MESSAGE) for m in messages]}


@api_route("GET", "/tickets/{ticket_id}", permission=VIEW, summary="Get a ticket and its thread",
           tags=("tickets",), response=TICKET_WITH_THREAD)
async def get_ticket(call: Call):
    async with call.pool.acquire() as conn:
        return await _ticket(conn, call, call.path["ticket_id"])


@api_route("POST", "/tickets/{ticket_id}/reply", permission=EDIT, summary="Reply to a ticket", tags=("tickets",),
           body={"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
           response=TICKET_WITH_THREAD)
async def reply_ticket(call: Call):
    """A staff reply: the ticket waits for the customer, who gets the ticket-reply SMS."""
    ticket_id = call.path["ticket_id"]
    async with call.pool.acquire() as conn:
        await tickets.reply(conn, call.scope, ticket_id, str(call.body["text"]), ip=call.ip)
        return await _ticket(conn, call, ticket_id)


@api_route("POST", "/tickets/{ticket_id}/close", permission=EDIT, summary="Close a ticket", tags=("tickets",),
           response=TICKET_WITH_THREAD)
async def close_ticket(call: Call):
    """Closing a closed ticket changes nothing."""
    ticket_id = call.path["ticket_id"]
    async with call.pool.acquire() as conn:
        await tickets.close(conn, call.scope, ticket_id, ip=call.ip)
        return await _ticket(conn, call, ticket_id)
