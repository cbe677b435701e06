"""RFC 9457 problem details: every error the API answers, as `application/problem+json`."""

from __future__ import annotations

import json
from datetime import date, datetime

from aiohttp import web

from radbill.i18n import _, lazy_gettext

PROBLEM_TYPE = "application/problem+json"
# The problem types this API uses, documented on /api/v1/docs (their `type` is a link to that section).
TYPES = {
    "unauthorized": lazy_gettext("The request carries no valid API token. Send `Authorization: Bearer <token>` "
                                 "with a token an operator created under API clients."),
    "forbidden": lazy_gettext("The client's permissions do not include this operation."),
    "address-not-allowed": lazy_gettext("The client may only be used from the addresses its operator listed."),
    "not-found": lazy_gettext("Nothing is here, or it is outside the client's scope (the two look the same)."),
    "invalid-request": lazy_gettext("The request could not be read: a parameter, the JSON body or its content type "
                                    "is wrong. `errors` names each field."),
    "validation": lazy_gettext("A value was refused by the same checks the admin's forms use. `errors` names each "
                               "field and says what to change."),
    "too-large": lazy_gettext("The request body is larger than the API accepts."),
    "rate-limited": lazy_gettext("Too many requests from this client. Wait for the seconds in `Retry-After`."),
    "conflict": lazy_gettext("The request conflicts with the current state of the resource."),
    "unavailable": lazy_gettext("The database is restarting or unreachable. Try again in a few seconds."),
    "server-error": lazy_gettext("Something went wrong on the server; the error was logged."),
}


def type_uri(kind: str) -> str:
    return f"/api/v1/docs#problem-{kind}"


class ApiProblem(Exception):
    """Raised anywhere under /api/v1 to answer with a problem document."""

    def __init__(self, status: int, kind: str, title: str, detail: str | None = None,
                 errors: list[dict] | None = None, headers: dict | None = None):
        super().__init__(detail or title)
        self.status, self.kind, self.title, self.detail = status, kind, title, detail
        self.errors, self.headers = errors or [], headers or {}

    def response(self) -> web.Response:
        body = {"type": type_uri(self.kind), "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = self.errors
        return web.Response(status=self.status, text=json.dumps(body, ensure_ascii=False),
                            content_type=PROBLEM_TYPE, headers=self.headers)


def field_errors(fields: dict[str, str]) -> list[dict]:
    """A ValidationError's {field: sentence} as problem `errors` entries."""
    return [{"field": name, "detail": str(detail)} for name, detail in fields.items()]


def unauthorized() -> ApiProblem:
    # one answer for a missing, malformed, unknown, wrong or revoked token: nothing hints which it was
    return ApiProblem(401, "unauthorized", _("Not authenticated"),
                      _("Send a valid API token as `Authorization: Bearer <token>`."),
                      headers={"WWW-Authenticate": 'Bearer realm="radbill"'})


def not_found() -> ApiProblem:
    return ApiProblem(404, "not-found", _("Not found"), _("There is nothing here, or it is not in this client's scope."))


def forbidden(permission: str) -> ApiProblem:
    return ApiProblem(403, "forbidden", _("Not allowed"),
                      _("This client lacks the permission %(permission)s. Ask its operator to create a client "
                        "with it.", permission=permission))


def invalid(field: str, detail: str) -> ApiProblem:
    return ApiProblem(400, "invalid-request", _("Invalid request"), detail, [{"field": field, "detail": detail}])


def _default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)  # inet, cidr, macaddr, UUID


def json_response(data, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(data, default=_default, ensure_ascii=False),
                        content_type="application/json", headers=headers)
