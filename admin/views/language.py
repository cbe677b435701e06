"""The language switch (each login's own) and the operator's default language and digits."""

from __future__ import annotations

from aiohttp import web

from admin.routing import ALL_ROLES, route
from admin.views.auth import _safe_next
from admin.web import client_ip, redirect
from radbill import i18n
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.services import profile

ISP_ROLES = frozenset({"group_admin", "operator", "sub_operator"})


@route("POST", "/profile/language", roles=ALL_ROLES)
async def choose_language(request: web.Request, scope):
    """From the top bar or the profile page: back to the page it was pressed on, now in the chosen language."""
    form = await request.post()
    back = _safe_next(str(form.get("next", ""))) or "/profile"
    async with request.app["pool"].acquire() as conn:
        try:
            await profile.set_own_locale(conn, scope, str(form.get("locale", "")), client_ip(request))
        except ValidationError as exc:
            return redirect(request, back, str(exc), "error")
    locale = str(form.get("locale", "")) or request["session"].locale
    with i18n.use_locale(locale):  # the confirmation reads in the language just chosen
        return redirect(request, back, _("Language changed."))


@route("POST", "/isp/language", roles=ISP_ROLES)
async def operator_language(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            await profile.update_language_settings(conn, scope, str(form.get("default_locale", "")),
                                                   form.get("bengali_digits") == "1", client_ip(request))
        except ValidationError as exc:
            return redirect(request, "/isp", str(exc), "error")
    return redirect(request, "/isp", _("Language settings saved. Logins without their own choice use them."))
