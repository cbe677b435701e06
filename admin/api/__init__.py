"""REST API v1 (`/api/v1`, same port as the admin): bearer-token clients over the admin's own services.

Declaring an operation (one module per resource under admin/api/, imported at the bottom of this file):

    from admin.api import pagination
    from admin.api.registry import Call, Param, api_route, as_form
    from radbill.services import payments

    PAYMENT = {"type": "object", "required": ["id", "amount_minor"],
               "properties": {"id": {"type": "integer"}, "amount_minor": {"type": "integer"}}}

    @api_route("POST", "/customers/{customer_id}/payments", permission="billing.collect",
               summary="Record a cash payment", tags=("payments",), status=201,
               body={"type": "object", "required": ["amount"],
                     "properties": {"amount": {"type": ["string", "number"]}, "memo": {"type": "string"}}},
               response=PAYMENT, errors=(409,))
    async def record_payment(call: Call):
        # call.scope: the client's Scope (its subtree + permission subset); call.path["customer_id"] is an int;
        # call.body: the JSON object, top-level types already checked; as_form() gives it to a form parser
        async with call.pool.acquire() as conn:
            row = await payments.record_cash_payment(conn, call.scope, call.path["customer_id"],
                                                     as_form(call.body), ip=call.ip)
        return {"id": row["id"], "amount_minor": row["amount_minor"]}  # JSON with `status`; or a web.Response

- `permission` is a manager permission name (radbill.services.auth.MANAGER_PERMISSIONS); a client without it
  gets 403 before the handler runs. Paths are under /api/v1; `{name_id}` parameters are digits (else 404).
- `query=(Param(...), ...)` declares every query parameter (unknown ones are a 400); lists add
  `*pagination.PARAMS` and return `pagination.page(items, next_key)` with `response=pagination.page_schema(ITEM)`.
- Raise the services' own errors: NotFound -> 404, ValidationError(fields) -> 422 naming each field,
  PermissionDenied -> 403, other RadbillError -> 409; admin.api.problems.ApiProblem for anything else.
- `response` must describe every success body: tests/api validate every response against /api/v1/openapi.json.
"""

from __future__ import annotations

from aiohttp import web

from admin.api import guard
from admin.api.registry import add_api_routes


def install(app: web.Application) -> None:
    """Add the API's routes and state to the admin app (its middleware is admin.api.guard.middleware)."""
    guard.setup(app)
    add_api_routes(app)


from admin.api import (  # noqa: E402, F401  (register the operations)
    billing,
    catalog,
    customer_writes,
    customers,
    messages,
    openapi,
    sessions,
)
