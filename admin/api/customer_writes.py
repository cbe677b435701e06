"""Customer writes over the API: the admin form's parser and the admin buttons' services, nothing of its own.

Bodies are the admin forms' fields as JSON; the schema below describes their shape, radbill.customer_forms and
the services decide what is valid (their sentences come back as problem `errors`, one per field)."""

from __future__ import annotations

from admin.api import problems
from admin.api.customers import CUSTOMER, EDIT, TAGS, customer_json
from admin.api.registry import Call, Param, api_route, as_form
from radbill.billing.money import parse_amount
from radbill.customer_forms import CONNECTION_TYPES
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.services import customer_records, customers, package_change, package_change_text

_ID = {"type": ["integer", "string", "null"]}
_TEXT = {"type": ["string", "null"]}
_EDITABLE_FIELDS = {
    "name": {"type": "string", "description": "Full name (1 to 120 characters)."},
    "username": {"type": "string", "description": "The PPPoE/Hotspot login (the RADIUS User-Name), unique system-wide."},
    "radius_password": {**_TEXT, "description": "The RADIUS password; left out on create, one is generated."},
    "mobile": {**_TEXT, "description": "A mobile number, e.g. 01712345678 or +8801712345678."},
    "email": _TEXT, "address": _TEXT, "national_id": _TEXT,
    "connection_type": {"type": "string", "enum": list(CONNECTION_TYPES)},
    "static_ip": {**_TEXT, "description": "For connection_type static: the address (or give static_pool)."},
    "static_pool": {**_ID, "description": "For connection_type static: take the next free address of this pool."},
    "mac_address": _TEXT,
    "billing_profile_id": _ID, "zone_id": _ID,
    "custom_price": {"type": ["string", "number", "null"],
                     "description": "A price for this customer alone in major units (e.g. \"550.00\"); empty: none."},
    "simultaneous_use": {"type": ["integer", "string", "null"], "description": "Sessions allowed at once (1-100)."},
}
CREATE_BODY = {"type": "object", "required": ["name", "username", "connection_type", "package_id", "billing_profile_id"],
               "properties": {**_EDITABLE_FIELDS, "package_id": _ID,
                              "operator_id": {**_ID, "description": "The owner: the client's scope operator "
                                                                    "(default) or one below it."}}}
UPDATE_BODY = {"type": "object", "properties": _EDITABLE_FIELDS,
               "description": "Only the fields to change; the package, status and owner have their own operations."}
STATUS_BODY = {"type": "object", "required": ["action"], "properties": {
    "action": {"type": "string", "enum": list(customers.TRANSITIONS)},
    "reason": {**_TEXT, "description": "Required to suspend or disable; kept on the customer's timeline."}}}
PRICE_BODY = {"type": "object", "required": ["custom_price"], "properties": {
    "custom_price": {"type": ["string", "number", "null"],
                     "description": "In major units (\"550.00\"); null or \"\" returns to the package price."}}}
CHANGE_BODY = {"type": "object", "required": ["package_id", "expected_minor"], "properties": {
    "package_id": {"type": "integer"},
    "expected_minor": {"type": "integer", "description": "The preview's expected_minor: the change is refused "
                                                         "(422) if the amount is no longer the one previewed."}}}
PLAN = {
    "type": "object", "additionalProperties": False,
    "required": ["package_id", "package_name", "applies", "applies_at", "old_price_minor", "new_price_minor",
                 "charge_minor", "credit_minor", "expected_minor", "currency", "consequences"],
    "properties": {
        "package_id": {"type": "integer"}, "package_name": {"type": "string"},
        "applies": {"type": "string", "description": "now, or at the start of the next period."},
        "applies_at": {"type": "string", "format": "date-time"},
        "old_price_minor": {"type": "integer"}, "new_price_minor": {"type": "integer"},
        "charge_minor": {"type": "integer"}, "credit_minor": {"type": "integer"},
        "expected_minor": {"type": "integer", "description": "Charge positive, credit negative: send it back "
                                                             "to confirm the change."},
        "currency": {"type": "string"},
        "consequences": {"type": "array", "items": {"type": "string"},
                         "description": "What the change does, as the admin's confirmation page says it."},
        "bill_id": {"type": ["integer", "null"]}, "customer": CUSTOMER,
    },
}


async def _card(conn, call: Call, customer_id: int) -> dict:
    return customer_json(await customer_records.card(conn, call.scope, customer_id))


@api_route("POST", "/customers", permission=EDIT, summary="Add a customer", tags=TAGS, body=CREATE_BODY,
           response=CUSTOMER, status=201, errors=(404,))  # 404: an operator_id outside the scope
async def create_customer(call: Call):
    """The Add Customer form: same checks, same initial bill, audited under the client."""
    async with call.pool.acquire() as conn:
        row = await customer_records.create_customer(conn, call.scope, as_form(call.body), call.ip)
        return await _card(conn, call, row["id"])


@api_route("PATCH", "/customers/{customer_id}", permission=EDIT, summary="Edit a customer's details", tags=TAGS,
           body=UPDATE_BODY, response=CUSTOMER)
async def update_customer(call: Call):
    """The Edit Customer form, starting from the stored values: fields left out keep theirs."""
    customer_id = call.path["customer_id"]
    async with call.pool.acquire() as conn:
        form = {**customer_records.form_of(await customer_records.card(conn, call.scope, customer_id)),
                **as_form(call.body)}
        await customer_records.update_customer(conn, call.scope, customer_id, form, call.ip)
        return await _card(conn, call, customer_id)


@api_route("POST", "/customers/{customer_id}/status", permission=EDIT, summary="Suspend, disable or activate",
           tags=TAGS, body=STATUS_BODY, response=CUSTOMER)
async def change_status(call: Call):
    """The customer page's status buttons: open sessions are disconnected, the SMS goes out, the timeline says
    why. (There is no confirmation step: the call is the decision.)"""
    customer_id = call.path["customer_id"]
    async with call.pool.acquire() as conn:
        await customers.change_status(conn, call.scope, customer_id, call.body["action"], call.body.get("reason"),
                                      ip=call.ip)
        return await _card(conn, call, customer_id)


@api_route("PUT", "/customers/{customer_id}/custom-price", permission=EDIT, summary="Set or clear the custom price",
           tags=TAGS, body=PRICE_BODY, response=CUSTOMER)
async def set_custom_price(call: Call):
    customer_id = call.path["customer_id"]
    raw = as_form(call.body).get("custom_price", "").strip()
    async with call.pool.acquire() as conn:
        customer = await customer_records.card(conn, call.scope, customer_id)
        try:
            price = parse_amount(raw, customer["currency"]) if raw else None
        except ValidationError as exc:
            raise ValidationError(str(exc), {"custom_price": str(exc)}) from None
        await customers.set_custom_price(conn, call.scope, customer_id, price, ip=call.ip)
        return await _card(conn, call, customer_id)


def _plan_json(plan) -> dict:
    return {"package_id": plan.package["id"], "package_name": plan.package["name"], "applies": plan.terms.applies,
            "applies_at": plan.applies_at, "old_price_minor": plan.old_price_minor,
            "new_price_minor": plan.new_price_minor, "charge_minor": plan.charge_minor,
            "credit_minor": plan.credit_minor, "expected_minor": plan.signed_minor,
            "currency": plan.customer["currency"], "consequences": package_change_text.sentences(plan)}


@api_route("GET", "/customers/{customer_id}/package-change", permission=EDIT, summary="Preview a package change",
           tags=TAGS, query=(Param("package_id", "integer", "The package to change to.", minimum=1),),
           response=PLAN)
async def preview_package_change(call: Call):
    """What changing to `package_id` would cost and do now; nothing is written."""
    if call.query["package_id"] is None:
        raise problems.invalid("package_id", _("Give package_id: the package to change to."))
    async with call.pool.acquire() as conn:
        plan = await package_change.preview_change(conn, call.scope, call.path["customer_id"],
                                                   call.query["package_id"])
    return _plan_json(plan)


@api_route("POST", "/customers/{customer_id}/package-change", permission=EDIT, summary="Change the package",
           tags=TAGS, body=CHANGE_BODY, response=PLAN)
async def apply_package_change(call: Call):
    """The admin's package change (billed per the billing profile), confirmed by the previewed amount."""
    customer_id = call.path["customer_id"]
    async with call.pool.acquire() as conn:
        plan = await package_change.change_package_billed(conn, call.scope, customer_id, call.body["package_id"],
                                                          ip=call.ip, expected_minor=call.body["expected_minor"])
        return {**_plan_json(plan), "bill_id": plan.bill_id, "customer": await _card(conn, call, customer_id)}


CANCEL_BODY = {"type": "object", "required": ["expected_minor"], "properties": {
    "expected_minor": {"type": "integer", "description": "The cancellation preview's expected_minor: refused (422) "
                                                         "if the amount is no longer the one previewed."}}}
CANCEL_PLAN = {
    "type": "object", "additionalProperties": False,
    "required": ["package_id", "package_name", "cancelled_package_name", "charge_minor", "credit_minor",
                 "expected_minor", "currency", "consequences"],
    "properties": {
        "package_id": {"type": "integer", "description": "The package the customer keeps."},
        "package_name": {"type": "string"}, "cancelled_package_name": {"type": "string"},
        "charge_minor": {"type": "integer"}, "credit_minor": {"type": "integer", "description": "What scheduling "
                                                                "the change charged, given back."},
        "expected_minor": {"type": "integer", "description": "Send it back to confirm the cancellation."},
        "currency": {"type": "string"},
        "consequences": {"type": "array", "items": {"type": "string"}},
        "bill_id": {"type": ["integer", "null"]}, "customer": CUSTOMER,
    },
}


def _cancel_json(plan) -> dict:
    return {"package_id": plan.package["id"], "package_name": plan.package["name"],
            "cancelled_package_name": plan.old_package_name, "charge_minor": plan.charge_minor,
            "credit_minor": plan.credit_minor, "expected_minor": plan.signed_minor,
            "currency": plan.customer["currency"], "consequences": package_change_text.cancel_sentences(plan)}


@api_route("GET", "/customers/{customer_id}/waiting-package-change", permission=EDIT,
           summary="Preview cancelling the package change waiting for the next period", tags=TAGS,
           response=CANCEL_PLAN, errors=(422,))
async def preview_cancel_package_change(call: Call):
    """What cancelling the waiting change would give or take back; nothing is written (422: nothing waits)."""
    async with call.pool.acquire() as conn:
        return _cancel_json(await package_change.preview_cancel(conn, call.scope, call.path["customer_id"]))


@api_route("POST", "/customers/{customer_id}/waiting-package-change/cancel", permission=EDIT,
           summary="Cancel the package change waiting for the next period", tags=TAGS, body=CANCEL_BODY,
           response=CANCEL_PLAN)
async def cancel_package_change(call: Call):
    """The admin's cancellation: the current package stays, money scheduling it moved is reversed."""
    customer_id = call.path["customer_id"]
    async with call.pool.acquire() as conn:
        plan = await package_change.cancel_waiting_change(conn, call.scope, customer_id, ip=call.ip,
                                                          expected_minor=call.body["expected_minor"])
        return {**_cancel_json(plan), "bill_id": plan.bill_id, "customer": await _card(conn, call, customer_id)}
