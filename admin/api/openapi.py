"""The OpenAPI 3.1 document and the reference page, both generated from API_REGISTRY (never written by hand)."""

from __future__ import annotations

from aiohttp import web

from admin.api import problems
from admin.api.registry import API_REGISTRY, PREFIX, ApiRoute, Call, api_route
from radbill.i18n import _

PROBLEM_SCHEMA = {
    "type": "object", "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "A link to this problem type's section of /api/v1/docs."},
        "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "detail"], "additionalProperties": False,
            "properties": {"field": {"type": "string"}, "detail": {"type": "string"}}}},
    },
}
# which problems each kind of operation can answer (the document lists them; the test suite checks them)
_COMMON_ERRORS = (400, 401, 403, 429)


def _error_statuses(route: ApiRoute) -> list[int]:
    if route.public:
        return []
    statuses = set(_COMMON_ERRORS) | set(route.errors)
    if route.path_params:
        statuses.add(404)
    if route.body is not None:
        statuses |= {413, 415, 422}
    return sorted(statuses)


def _operation(route: ApiRoute) -> dict:
    op: dict = {"operationId": route.name, "summary": route.summary, "tags": list(route.tags) or ["general"]}
    if route.description:
        op["description"] = route.description
    params = [{"name": name, "in": "path", "required": True,
               "schema": {"type": "integer", "minimum": 1} if name.endswith("_id") else {"type": "string"}}
              for name in route.path_params]
    params += [{"name": p.name, "in": "query", "required": False, "description": p.description, "schema": p.schema()}
               for p in route.query]
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.body}}}
    success: dict = {"description": route.summary}
    if route.response is not None:
        success["content"] = {"application/json": {"schema": route.response}}
    op["responses"] = {str(route.status): success}
    for status in _error_statuses(route):
        op["responses"][str(status)] = {"$ref": "#/components/responses/Problem"}
    if route.public:
        op["security"] = []
    elif route.permission:
        op["x-permission"] = route.permission
    return op


def document() -> dict:
    paths: dict = {}
    for route in API_REGISTRY:
        paths.setdefault(PREFIX + route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "radbill API", "version": "1",
                 "description": "ISP billing over the same services as the radbill admin. Create a token under "
                                "API clients in the admin; send it as `Authorization: Bearer <token>`."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An API client token (rbk_...)."}},
            "schemas": {"Problem": PROBLEM_SCHEMA},
            "responses": {"Problem": {"description": "An RFC 9457 problem document.",
                                      "content": {problems.PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}},
        },
        "security": [{"bearer": []}],
    }


@api_route("GET", "/openapi.json", permission=None, public=True, summary="This API's OpenAPI 3.1 document",
           tags=("meta",), response={"type": "object"})
async def openapi_json(call: Call):
    return document()


@api_route("GET", "/docs", permission=None, public=True, summary="This API's reference page (HTML)",
           tags=("meta",))
async def docs(call: Call):
    env = call.request.app["jinja"]
    operations = [(route, _operation(route)) for route in API_REGISTRY if route.path != "/docs"]
    html = env.get_template("api_docs.html").render(
        operations=operations, prefix=PREFIX, problem_types=[(k, str(v)) for k, v in problems.TYPES.items()],
        problem_schema=PROBLEM_SCHEMA, title=_("radbill API reference"),
        auth_header="Authorization: Bearer <token>")
    return web.Response(text=html, content_type="text/html")
