"""RADIUS sessions over the API: open and recent, of the client's subtree or one customer (radbill.services.sessions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from admin.api import pagination
from admin.api.registry import Call, Param, api_route
from radbill.services import sessions

VIEW = "customers.view"  # the admin shows sessions on the customer page
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TEXT_OR_NULL = {"type": ["string", "null"]}
_OCTETS = {"type": "integer", "description": "As the NAS counts them (input: from the customer)."}

SESSION = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "customer_id", "username", "session_id", "nas_ip", "started_at", "stopped_at", "seconds",
                 "input_octets", "output_octets"],
    "properties": {
        "id": {"type": "integer"}, "customer_id": {"type": "integer"}, "username": {"type": "string"},
        "session_id": {"type": "string"}, "nas_ip": {"type": "string"}, "ip": _TEXT_OR_NULL, "mac": _TEXT_OR_NULL,
        "started_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": ["string", "null"], "format": "date-time"},
        "stopped_at": {"type": ["string", "null"], "format": "date-time", "description": "null while open"},
        "seconds": {"type": "integer"}, "input_octets": _OCTETS, "output_octets": _OCTETS,
        "terminate_cause": _TEXT_OR_NULL,
    },
}
QUERY = (Param("state", description="open: online now; closed: ended. Default both.", enum=sessions.STATES),
         *pagination.PARAMS)


def _key(before) -> list[int] | None:
    if before is None:
        return None
    delta = before[0] - EPOCH
    return [(delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds, before[1]]


async def _page(call: Call, customer_id: int | None) -> dict:
    after = pagination.decode(call.query["cursor"], 2)
    before = (EPOCH + timedelta(microseconds=after[0]), after[1]) if after else None
    async with call.pool.acquire() as conn:
        rows, more = await sessions.list_sessions(conn, call.scope, customer_id=customer_id,
                                                  state=call.query["state"], before=before, limit=call.query["limit"])
    return pagination.page([{k: r[k] for k in SESSION["properties"]} for r in rows], _key(more))


@api_route("GET", "/sessions", permission=VIEW, summary="List sessions", tags=("sessions",), query=QUERY,
           response=pagination.page_schema(SESSION))
async def list_sessions(call: Call):
    """Sessions of every customer in the client's scope, newest start first."""
    return await _page(call, None)


@api_route("GET", "/customers/{customer_id}/sessions", permission=VIEW, summary="List a customer's sessions",
           tags=("sessions",), query=QUERY, response=pagination.page_schema(SESSION))
async def customer_sessions(call: Call):
    """One customer's sessions, newest start first; a customer outside the scope is 404."""
    return await _page(call, call.path["customer_id"])
