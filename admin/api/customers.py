"""Customers over the API: the admin's own search, profile and write services (no second write path)."""

from __future__ import annotations

from admin.api import pagination
from admin.api.registry import Call, Param, api_route
from radbill.customer_forms import CONNECTION_TYPES
from radbill.policy import DISPLAY_STATES
from radbill.services import customer_records

VIEW, EDIT = "customers.view", "customers.edit"
TAGS = ("customers",)

_TEXT = {"type": "string"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_INT_OR_NULL = {"type": ["integer", "null"]}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
STATE = {"type": "string", "enum": list(DISPLAY_STATES),
         "description": "What the customer's access is now: an active customer past expires_at is expired."}

CUSTOMER = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "operator_id", "username", "name", "status", "state", "connection_type", "package_id",
                 "billing_profile_id", "currency"],
    "properties": {
        "id": {"type": "integer"}, "operator_id": {"type": "integer"}, "operator_name": _TEXT,
        "username": _TEXT, "name": _TEXT, "mobile": _TEXT_OR_NULL, "email": _TEXT_OR_NULL,
        "address": _TEXT_OR_NULL, "national_id": _TEXT_OR_NULL,
        "status": {"type": "string", "enum": ["active", "suspended", "disabled"]}, "state": STATE,
        "status_reason": _TEXT_OR_NULL,
        "connection_type": {"type": "string", "enum": list(CONNECTION_TYPES)},
        "static_ip": _TEXT_OR_NULL, "mac_address": _TEXT_OR_NULL,
        "package_id": {"type": "integer"}, "package_name": _TEXT,
        "next_package_id": _INT_OR_NULL, "next_package_at": _TIME_OR_NULL,
        "billing_profile_id": {"type": "integer"}, "billing_profile_name": _TEXT,
        "zone_id": _INT_OR_NULL, "zone_name": _TEXT_OR_NULL,
        "custom_price_minor": {"type": ["integer", "null"],
                               "description": "A price for this customer alone, in minor units (poisha)."},
        "currency": _TEXT, "simultaneous_use": _INT_OR_NULL,
        "expires_at": _TIME_OR_NULL, "created_at": {"type": "string", "format": "date-time"},
    },
}

CUSTOMER_SUMMARY = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "username", "name", "status", "state", "connection_type", "package_name", "online"],
    "properties": {
        "id": {"type": "integer"}, "username": _TEXT, "name": _TEXT, "mobile": _TEXT_OR_NULL,
        "status": {"type": "string"}, "state": STATE, "connection_type": _TEXT, "expires_at": _TIME_OR_NULL,
        "package_name": _TEXT, "zone_name": _TEXT_OR_NULL, "operator_name": _TEXT,
        "online": {"type": "boolean", "description": "Whether an accounting session is open now."},
    },
}


def customer_json(c) -> dict:
    return {"id": c["id"], "operator_id": c["operator_id"], "operator_name": c["operator_name"],
            "username": c["username"], "name": c["name"], "mobile": c["mobile"], "email": c["email"],
            "address": c["address"], "national_id": c["national_id"], "status": c["status"], "state": c["state"],
            "status_reason": c["status_reason"], "connection_type": c["connection_type"],
            "static_ip": c["static_ip_text"], "mac_address": c["mac_text"], "package_id": c["package_id"],
            "package_name": c["package_name"], "next_package_id": c["next_package_id"],
            "next_package_at": c["next_package_at"], "billing_profile_id": c["billing_profile_id"],
            "billing_profile_name": c["profile_name"], "zone_id": c["zone_id"], "zone_name": c["zone_name"],
            "custom_price_minor": c["custom_price_minor"], "currency": c["currency"],
            "simultaneous_use": c["simultaneous_use"], "expires_at": c["expires_at"], "created_at": c["created_at"]}


def _summary_json(r) -> dict:
    return {"id": r["id"], "username": r["username"], "name": r["name"], "mobile": r["mobile"],
            "status": r["status"], "state": r["state"], "connection_type": r["connection_type"],
            "expires_at": r["expires_at"], "package_name": r["package"], "zone_name": r["zone"],
            "operator_name": r["operator_name"], "online": r["online"]}


LIST_QUERY = (
    Param("q", description="Customer ID, exact mobile, or part of the name, username or mobile (as the admin's "
                           "search box; exact matches come first)."),
    Param("status", description="The display state.", enum=DISPLAY_STATES),
    Param("connection_type", enum=tuple(CONNECTION_TYPES)),
    Param("package_id", "integer", minimum=1), Param("billing_profile_id", "integer", minimum=1),
    Param("zone_id", "integer", minimum=1),
    Param("online", "boolean", "Only customers with an open accounting session."),
    *pagination.PARAMS,
)


@api_route("GET", "/customers", permission=VIEW, summary="List and search customers", tags=TAGS,
           query=LIST_QUERY, response=pagination.page_schema(CUSTOMER_SUMMARY))
async def list_customers(call: Call):
    """The admin's customer list: the same search and filters, newest first after exact matches."""
    q = call.query
    after = pagination.decode(q["cursor"], 2)
    async with call.pool.acquire() as conn:
        rows, more = await customer_records.search(
            conn, call.scope, q["q"] or "", status=q["status"], connection_type=q["connection_type"],
            package_id=q["package_id"], billing_profile_id=q["billing_profile_id"], zone_id=q["zone_id"],
            online=bool(q["online"]), limit=q["limit"], after=tuple(after) if after else None)
    next_key = [rows[-1]["rank"], rows[-1]["id"]] if more and rows else None
    return pagination.page([_summary_json(r) for r in rows], next_key)


@api_route("GET", "/customers/{customer_id}", permission=VIEW, summary="Get one customer", tags=TAGS,
           response=CUSTOMER)
async def get_customer(call: Call):
    """A customer in the client's scope; any other id is 404, whether or not it exists."""
    async with call.pool.acquire() as conn:
        return customer_json(await customer_records.card(conn, call.scope, call.path["customer_id"]))
