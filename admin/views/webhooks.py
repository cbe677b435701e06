"""Webhooks: endpoints with their health, add/edit, the secret shown once, rotate (confirmed), a test event, the
deliveries log with its attempts, redeliver (confirmed), enable/disable (thin: services.webhook_endpoints)."""

from __future__ import annotations

from aiohttp import web

from admin import confirm
from admin.routing import ADMINS, route
from admin.web import client_ip, redirect, render
from radbill.errors import ValidationError
from radbill.i18n import _, lazy_gettext
from radbill.services import webhook_endpoints as endpoints
from radbill.services.webhooks import EVENTS

HOOKS = {"roles": ADMINS, "section": lazy_gettext("Webhooks")}


def _id(request: web.Request) -> int:
    return int(request.match_info["webhook_id"])


def _form_page(request, endpoint, form, errors, status=200, message=None):
    return render(request, "webhook_form.html", status=status, endpoint=endpoint, form=form, errors=errors,
                  message=message, events=EVENTS)


def _fields(form) -> tuple[str, str, list[str]]:
    return str(form.get("url", "")), str(form.get("description", "")), form.getall("events", [])


def _secret_page(request, endpoint, secret: str, created: bool):
    return render(request, "webhook_secret.html", endpoint=endpoint, secret=secret, created=created)


@route("GET", "/webhooks", **HOOKS)
async def webhooks_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        rows = await endpoints.list_endpoints(conn, scope)
    return render(request, "webhooks.html", endpoints=rows, events=EVENTS)


@route("GET", "/webhooks/new", **HOOKS)
async def webhook_new(request: web.Request, scope):
    return _form_page(request, None, {"events": list(EVENTS)}, {})


@route("POST", "/webhooks/new", **HOOKS)
async def webhook_create(request: web.Request, scope):
    form = await request.post()
    url, description, events = _fields(form)
    async with request.app["pool"].acquire() as conn:
        try:
            endpoint, secret = await endpoints.create_endpoint(conn, scope, url, description, events,
                                                               client_ip(request))
        except ValidationError as exc:
            return _form_page(request, None, {"url": url, "description": description, "events": events},
                              exc.fields, 422, str(exc))
    return _secret_page(request, endpoint, secret, True)


@route("GET", "/webhooks/{webhook_id:\\d+}", **HOOKS)
async def webhook_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        endpoint = await endpoints.get_endpoint(conn, scope, _id(request))
        log = await endpoints.deliveries(conn, scope, endpoint["id"])
    form = {"url": endpoint["url"], "description": endpoint["description"], "events": list(endpoint["events"])}
    return render(request, "webhook.html", endpoint=endpoint, deliveries=log, form=form, errors={}, events=EVENTS)


@route("POST", "/webhooks/{webhook_id:\\d+}", **HOOKS)
async def webhook_update(request: web.Request, scope):
    form = await request.post()
    url, description, events = _fields(form)
    async with request.app["pool"].acquire() as conn:
        endpoint = await endpoints.get_endpoint(conn, scope, _id(request))
        try:
            await endpoints.update_endpoint(conn, scope, endpoint["id"], url, description, events, client_ip(request))
        except ValidationError as exc:
            log = await endpoints.deliveries(conn, scope, endpoint["id"])
            return render(request, "webhook.html", status=422, endpoint=endpoint, deliveries=log, errors=exc.fields,
                          form={"url": url, "description": description, "events": events}, message=str(exc),
                          events=EVENTS)
    return redirect(request, f"/webhooks/{endpoint['id']}", _("Webhook endpoint saved."))


@route("POST", "/webhooks/{webhook_id:\\d+}/rotate", **HOOKS)
async def webhook_rotate(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        endpoint = await endpoints.get_endpoint(conn, scope, _id(request))
        if not confirm.confirmed(form):
            return confirm.ask(
                request, title=_("Replace the secret of %(url)s?", url=endpoint["url"]),
                consequences=[_("Deliveries from now on are signed with the new secret: the receiving server "
                                "refuses them until it has the new secret too."),
                              _("The new secret is shown once, on the next page.")],
                action=f"/webhooks/{endpoint['id']}/rotate", form=form, yes=_("Replace the secret"),
                back=f"/webhooks/{endpoint['id']}")
        secret = await endpoints.rotate_secret(conn, scope, endpoint["id"], client_ip(request))
    return _secret_page(request, endpoint, secret, False)


@route("POST", "/webhooks/{webhook_id:\\d+}/enabled", **HOOKS)
async def webhook_enable(request: web.Request, scope):
    form = await request.post()
    enabled = form.get("enabled") == "yes"
    async with request.app["pool"].acquire() as conn:
        await endpoints.set_enabled(conn, scope, _id(request), enabled, client_ip(request))
    message = _("Webhook endpoint enabled.") if enabled else _("Webhook endpoint disabled: it hears no new events.")
    return redirect(request, f"/webhooks/{_id(request)}", message)


@route("POST", "/webhooks/{webhook_id:\\d+}/test", **HOOKS)
async def webhook_test(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        await endpoints.send_test(conn, scope, _id(request), client_ip(request))
    return redirect(request, f"/webhooks/{_id(request)}",
                    _("A test event is queued; its attempt appears in the log below within a few seconds."))


@route("POST", "/webhooks/deliveries/{delivery_id:\\d+}/redeliver", **HOOKS)
async def webhook_redeliver(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        delivery = await endpoints.get_delivery(conn, scope, int(request.match_info["delivery_id"]))
        back = f"/webhooks/{delivery['endpoint_id']}"
        if not confirm.confirmed(form):
            return confirm.ask(
                request, title=_("Send %(event)s again?", event=delivery["event_type"]),
                consequences=[_("The receiving server gets the same event (same webhook-id and body) once more; "
                                "a receiver that already processed it should ignore the repeat.")],
                action=f"/webhooks/deliveries/{delivery['id']}/redeliver", form=form, yes=_("Send again"),
                back=back)
        _outbox_id, queued = await endpoints.redeliver(conn, scope, delivery["id"], client_ip(request))
    if not queued:
        return redirect(request, back, _("This event is already waiting to be sent again: its attempt appears in "
                                         "the log below within a few seconds."))
    return redirect(request, back, _("The event is queued to be sent again."))
