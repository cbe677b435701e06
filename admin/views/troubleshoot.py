"""The customer page's "Why can't this customer connect?" panel: its one action, Disconnect now.

The panel itself renders inside the customer page (customers.customer_profile asks radbill.services.troubleshoot);
this module holds the POST, with a server-side confirmation step (admin.confirm): a disconnect drops the customer's
connection."""

from __future__ import annotations

from aiohttp import web

from admin import confirm
from admin.routing import ALL_ROLES, route
from admin.web import client_ip, redirect
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.services import customers

EDIT = "customers.edit"


@route("POST", "/customers/{customer_id:\\d+}/disconnect", roles=ALL_ROLES, permission=EDIT)
async def disconnect_now(request: web.Request, scope):
    customer_id = int(request.match_info["customer_id"])
    form = await request.post()
    unique_id = str(form.get("acct_unique_id", "")).strip()
    back = f"/customers/{customer_id}#troubleshoot"
    async with request.app["pool"].acquire() as conn:
        customer = await customers.get_customer(conn, scope, customer_id)  # a foreign id is 404 before anything
        if not unique_id:
            return redirect(request, back, _("Choose the session to disconnect."), "error")
        if not confirm.confirmed(form):
            return confirm.ask(
                request, title=_("Disconnect %(username)s now?", username=customer["username"]),
                consequences=[_("The router drops this session at once. The customer's device logs in again by "
                                "itself, usually within a minute; if the login is refused, the reason shows under "
                                "\"Why can't this customer connect?\".")],
                action=f"/customers/{customer_id}/disconnect", form=form, yes=_("Yes, disconnect now"), back=back)
        try:
            await customers.disconnect_session(conn, scope, customer_id, unique_id, ip=client_ip(request))
        except ValidationError as exc:
            return redirect(request, back, str(exc), "error")
    return redirect(request, back, _("Disconnecting %(username)s's session: the result appears on the timeline in a "
                                     "few seconds. The customer can log in again at once.",
                                     username=customer["username"]))
