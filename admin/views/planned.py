"""Capabilities the operator menu and the FAQ name but radbill does not have yet: none at the moment (WhatsApp,
API clients and webhooks were the last). A planned URL is declared like any page, so a sub-operator gets the "ask
your parent operator" page (403) whether or not the capability exists, and an operator gets a page saying it is
not available yet instead of a bare 404."""

from __future__ import annotations

from aiohttp import web

from admin.routing import OPERATORS, route
from admin.web import render

# path -> the section's name, as the menu and the 403 page say it
PLANNED: dict[str, object] = {}


def _declare(path: str, section: str) -> None:
    async def not_available_yet(request: web.Request, scope):
        # 404: nothing is here yet (a link checker must not count it as a page); the text says so and what to do
        return render(request, "not_available.html", status=404, section=section)

    route("GET", path, roles=OPERATORS, section=section, planned=True,
          name="planned_" + path.strip("/").replace("-", "_"))(not_available_yet)


for _path, _section in PLANNED.items():
    _declare(_path, _section)
