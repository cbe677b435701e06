"""Packages and billing profiles over the API (read only): what the client's operator may give a customer."""

from __future__ import annotations

from admin.api import problems
from admin.api.registry import Call, Param, api_route
from radbill.services import catalog

VIEW = "customers.view"  # what a customer may be given is part of reading and adding customers
_INT_OR_NULL = {"type": ["integer", "null"]}
_OPERATOR = Param("operator_id", "integer", "For a customer of this operator (the client's scope operator or one "
                                            "below it); default: the scope operator.", minimum=1)

PACKAGE = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "name", "download_kbps", "upload_kbps", "price_minor", "customer_price_minor", "currency"],
    "properties": {
        "id": {"type": "integer"}, "operator_id": {"type": "integer"}, "owner_name": {"type": "string"},
        "name": {"type": "string"}, "download_kbps": {"type": "integer"}, "upload_kbps": {"type": "integer"},
        "price_minor": {"type": "integer", "description": "The owner's price, in minor units (poisha)."},
        "customer_price_minor": {"type": "integer", "description": "What a customer of the operator pays (an "
                                                                   "assignment's retail price, else the price)."},
        "wholesale_price_minor": _INT_OR_NULL, "currency": {"type": "string"},
        "validity_days": {"type": "integer"}, "data_cap_bytes": _INT_OR_NULL,
        "connection_types": {"type": "array", "items": {"type": "string"}},
    },
}
BILLING_PROFILE = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "name", "cycle_kind", "billing_type"],
    "properties": {
        "id": {"type": "integer"}, "operator_id": {"type": "integer"}, "owner_name": {"type": "string"},
        "name": {"type": "string"}, "cycle_kind": {"type": "string", "enum": ["fixed_day", "validity_days"]},
        "billing_day": _INT_OR_NULL, "validity_days": _INT_OR_NULL, "due_days": {"type": "integer"},
        "grace_days": {"type": "integer"}, "auto_suspend": {"type": "boolean"},
        "billing_type": {"type": "string", "enum": ["prepaid", "postpaid", "free"]},
        "change_billing": {"type": "string"},
    },
}
_LIST = {"type": "object", "required": ["items"], "additionalProperties": False}


def _package(p) -> dict:
    return {"id": p["id"], "operator_id": p["operator_id"], "owner_name": p["owner_name"], "name": p["name"],
            "download_kbps": p["download_kbps"], "upload_kbps": p["upload_kbps"], "price_minor": p["price_minor"],
            "customer_price_minor": p["customer_price_minor"], "wholesale_price_minor": p["wholesale_price_minor"],
            "currency": p["currency"], "validity_days": p["validity_days"], "data_cap_bytes": p["data_cap_bytes"],
            "connection_types": list(p["connection_types"])}


def _profile(b) -> dict:
    return {k: b[k] for k in BILLING_PROFILE["properties"]}


async def _packages(call: Call) -> list[dict]:
    async with call.pool.acquire() as conn:
        return [_package(p) for p in await catalog.packages_for(conn, call.scope, call.query.get("operator_id"))]


async def _profiles(call: Call) -> list[dict]:
    async with call.pool.acquire() as conn:
        return [_profile(b) for b in await catalog.billing_profiles_for(conn, call.scope,
                                                                        call.query.get("operator_id"))]


@api_route("GET", "/packages", permission=VIEW, summary="Packages a customer may be given", tags=("catalog",),
           errors=(404,), query=(_OPERATOR,), response={**_LIST, "properties": {"items": {"type": "array", "items": PACKAGE}}})
async def list_packages(call: Call):
    """Active packages the operator sells: its own, those assigned to it, and (for an operator) its parents'."""
    return {"items": await _packages(call)}


@api_route("GET", "/packages/{package_id}", permission=VIEW, summary="Get one package", tags=("catalog",),
           query=(_OPERATOR,), response=PACKAGE)
async def get_package(call: Call):
    found = next((p for p in await _packages(call) if p["id"] == call.path["package_id"]), None)
    if found is None:
        raise problems.not_found()
    return found


@api_route("GET", "/billing-profiles", permission=VIEW, summary="Billing profiles a customer may be given",
           tags=("catalog",), query=(_OPERATOR,), errors=(404,),
           response={**_LIST, "properties": {"items": {"type": "array", "items": BILLING_PROFILE}}})
async def list_billing_profiles(call: Call):
    return {"items": await _profiles(call)}


@api_route("GET", "/billing-profiles/{billing_profile_id}", permission=VIEW, summary="Get one billing profile",
           tags=("catalog",), query=(_OPERATOR,), response=BILLING_PROFILE)
async def get_billing_profile(call: Call):
    found = next((b for b in await _profiles(call) if b["id"] == call.path["billing_profile_id"]), None)
    if found is None:
        raise problems.not_found()
    return found
