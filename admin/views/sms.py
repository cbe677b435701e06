"""SMS pages: gateways, event templates and settings, broadcast, history, balance; the delivery-report callback."""

from __future__ import annotations

import json

from aiohttp import web

from admin import confirm
from admin.routing import ADMINS, ALL_ROLES, OPERATORS, route
from admin.web import client_ip, redirect, render
from radbill.billing.money import format_minor, parse_amount
from radbill.errors import ValidationError
from radbill.i18n import _, lazy_gettext, ngettext
from radbill.services import profile, sms, sms_broadcast, sms_config
from radbill.sms import EVENTS, PLACEHOLDERS
from radbill.sms.gateway import NUMBER_FORMATS
from radbill.validate import optional_id

SEND = "sms.send"
# the history's channel column and filter (sms_broadcast.HISTORY_CHANNELS)
CHANNEL_NAMES = {"sms": lazy_gettext("SMS"), "whatsapp": lazy_gettext("WhatsApp")}
GATEWAYS = dict(roles=OPERATORS, permission=SEND, section=lazy_gettext("SMS gateways"))


def _int(value) -> int | None:
    return optional_id(value)


def _callback_url(request: web.Request, gateway_id: int, token: str) -> str:
    return f"{request.scheme}://{request.host}/sms/dlr/{gateway_id}/{token}"


# --- gateways ---------------------------------------------------------------------------------------------

@route("GET", "/sms/gateways", **GATEWAYS)
async def gateways_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        rows = await sms_config.list_gateways(conn, scope)
    return render(request, "sms_gateways.html", gateways=rows, configs={r["id"]: json.loads(r["config"]) for r in rows})


@route("GET", "/sms/gateways/new", **GATEWAYS)
async def gateway_new(request: web.Request, scope):
    return render(request, "sms_gateway_form.html", gateway=None, form=sms_config.gateway_form_values(None), errors={},
                  number_formats=NUMBER_FORMATS, callback=None)


async def _save_gateway(request: web.Request, scope, gateway_id: int | None):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            row, token = await sms_config.save_gateway(conn, scope, form, gateway_id, client_ip(request))
        except ValidationError as exc:
            gateway = await sms_config.get_gateway(conn, scope, gateway_id) if gateway_id else None
            values = {**dict(form), "is_default": bool(form.get("is_default")), "active": bool(form.get("active"))}
            return render(request, "sms_gateway_form.html", status=422, gateway=gateway, form=values,
                          errors=exc.fields, message=str(exc), number_formats=NUMBER_FORMATS, callback=None)
    if token:  # shown once: only its hash is stored
        return render(request, "sms_gateway_form.html", gateway=row, form=sms_config.gateway_form_values(row),
                      errors={}, number_formats=NUMBER_FORMATS, callback=_callback_url(request, row["id"], token))
    return redirect(request, "/sms/gateways", _("Gateway %(name)s saved.", name=row["name"]))


@route("POST", "/sms/gateways/new", **GATEWAYS)
async def gateway_create(request: web.Request, scope):
    return await _save_gateway(request, scope, None)


@route("GET", "/sms/gateways/{gateway_id:\\d+}", **GATEWAYS)
async def gateway_edit(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        row = await sms_config.get_gateway(conn, scope, int(request.match_info["gateway_id"]))
    return render(request, "sms_gateway_form.html", gateway=row, form=sms_config.gateway_form_values(row), errors={},
                  number_formats=NUMBER_FORMATS, callback=None)


@route("POST", "/sms/gateways/{gateway_id:\\d+}", **GATEWAYS)
async def gateway_update(request: web.Request, scope):
    return await _save_gateway(request, scope, int(request.match_info["gateway_id"]))


# --- templates and settings -------------------------------------------------------------------------------

async def _templates_page(request, scope, status=200, edited=None, errors=None, message=None):
    async with request.app["pool"].acquire() as conn:
        templates = await sms_config.templates_for(conn, scope)
        settings = await sms_config.settings_for(conn, scope)
    if edited:  # the form as typed (a preview or a refused save)
        for t in templates:
            if t["event"] == edited["event"]:
                t.update(body=edited["body"], enabled=edited["enabled"], preview=edited.get("preview", t["preview"]))
    return render(request, "sms_templates.html", status=status, templates=templates, settings=settings,
                  placeholders=PLACEHOLDERS, errors=errors or {}, edited_event=edited and edited["event"],
                  message=message)


@route("GET", "/sms/templates", roles=ALL_ROLES, permission=SEND)
async def templates_page(request: web.Request, scope):
    return await _templates_page(request, scope)


@route("POST", "/sms/templates", roles=ALL_ROLES, permission=SEND)
async def template_save(request: web.Request, scope):
    form = await request.post()
    event, body, enabled = str(form.get("event", "")), str(form.get("body", "")), bool(form.get("enabled"))
    edited = {"event": event, "body": body, "enabled": enabled}
    try:
        if form.get("action") == "preview":
            from radbill.sms import validate_template

            edited["preview"] = sms_config.preview(validate_template(body))
            return await _templates_page(request, scope, edited=edited)
        async with request.app["pool"].acquire() as conn:
            await sms_config.save_template(conn, scope, event, body, enabled, client_ip(request))
    except ValidationError as exc:
        return await _templates_page(request, scope, 422, edited, exc.fields, str(exc))
    return redirect(request, "/sms/templates", _("%(event)s SMS saved.", event=str(EVENTS.get(event, event))))


@route("POST", "/sms/settings", roles=ALL_ROLES, permission=SEND)
async def settings_save(request: web.Request, scope):
    form = await request.post()
    try:
        async with request.app["pool"].acquire() as conn:
            await sms_config.save_settings(conn, scope, form, client_ip(request))
    except ValidationError as exc:
        return redirect(request, "/sms/templates", str(exc), "error")
    return redirect(request, "/sms/templates", _("Sending hours and reminders saved."))


# --- broadcast --------------------------------------------------------------------------------------------

async def _filter_options(conn, scope) -> dict:
    return {**await sms_broadcast.filter_options(conn, scope), "statuses": sms_broadcast.STATUSES,
            "connection_types": sms_broadcast.CONNECTION_TYPES, "placeholders": sms_broadcast.BROADCAST_PLACEHOLDERS}


@route("GET", "/sms/broadcast", roles=ALL_ROLES, permission=SEND)
async def broadcast_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        options = await _filter_options(conn, scope)
        recent = await sms_broadcast.recent_broadcasts(conn, scope)
    # the dues report links here with its filters (dues, zone_id, operator_id) already chosen
    form = {k: request.query[k] for k in ("dues", "zone_id", "operator_id") if request.query.get(k)}
    return render(request, "sms_broadcast.html", form=form, plan=None, errors={}, recent=recent, **options)


@route("POST", "/sms/broadcast", roles=ALL_ROLES, permission=SEND)
async def broadcast_send(request: web.Request, scope):
    form = await request.post()
    filters = sms_broadcast.Filters.from_form(form)
    body = str(form.get("body", ""))
    async with request.app["pool"].acquire() as conn:
        try:
            if form.get("action") == "send" and confirm.confirmed(form):
                broadcast_id = await sms_broadcast.start_broadcast(conn, scope, body, filters, client_ip(request))
                return redirect(request, f"/sms/broadcasts/{broadcast_id}", _("Broadcast queued: sending now."))
            plan = await sms_broadcast.preview_broadcast(conn, scope, body, filters)
            if form.get("action") == "send" and plan.recipients and plan.affordable:
                return _confirm_broadcast(request, plan, form)
            errors, message, status = {}, None, 200
        except ValidationError as exc:
            plan, errors, message, status = None, exc.fields, str(exc), 422
        options = await _filter_options(conn, scope)
        recent = await sms_broadcast.recent_broadcasts(conn, scope)
    return render(request, "sms_broadcast.html", status=status, form=dict(form), plan=plan, errors=errors,
                  message=message, recent=recent, **options)


def _confirm_broadcast(request: web.Request, plan: sms_broadcast.BroadcastPlan, form) -> web.Response:
    """Sending costs money and cannot be recalled: say to whom, how many SMS parts and what it costs first."""
    cost, balance = format_minor(plan.cost_minor, plan.currency), format_minor(plan.balance_minor, plan.currency)
    consequences = [
        ngettext("%(num)d customer gets this message.", "%(num)d customers get this message.", plan.recipients),
        ngettext("That is %(num)d SMS part at %(rate)s each.", "That is %(num)d SMS parts at %(rate)s each.",
                 plan.segments, rate=format_minor(plan.segment_price_minor, plan.currency)),
        _("It costs %(cost)s from your SMS balance of %(balance)s, leaving %(left)s.", cost=cost, balance=balance,
          left=format_minor(plan.balance_minor - plan.cost_minor, plan.currency)),
        _("A message cannot be recalled once it is sent."),
        _("First message: %(sample)s", sample=plan.sample)]
    return confirm.ask(request, title=_("Send this SMS to %(n)s customers?", n=plan.recipients),
                       consequences=consequences, action="/sms/broadcast", form=form,
                       yes=_("Yes, send and pay %(cost)s", cost=cost), back="/sms/broadcast")


@route("GET", "/sms/broadcasts/{broadcast_id:\\d+}", roles=ALL_ROLES, permission=SEND)
async def broadcast_progress(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        progress = await sms_broadcast.broadcast_progress(conn, scope, int(request.match_info["broadcast_id"]))
    response = render(request, "sms_broadcast_progress.html", **progress)
    if progress["counts"]["queued"]:
        response.headers["Refresh"] = "3"  # no script needed (the CSP allows only our own files)
    return response


# --- history and balance ----------------------------------------------------------------------------------

@route("GET", "/sms/history", roles=ALL_ROLES, permission=SEND)
async def history_page(request: web.Request, scope):
    q = request.query
    page = _int(q.get("page")) or 1
    filters = {"status": q.get("status") or None, "event": q.get("event") or None, "mobile": q.get("mobile") or None,
               "broadcast_id": _int(q.get("broadcast_id")), "channel": q.get("channel") or None}
    message = None
    async with request.app["pool"].acquire() as conn:
        try:
            rows, more = await sms_broadcast.history(conn, scope, page=page, **filters)
        except ValidationError as exc:
            rows, more, message = [], False, str(exc)
    return render(request, "sms_history.html", rows=rows, more=more, page=page, filters=filters, message=message,
                  statuses=sms_broadcast.HISTORY_STATUSES, events={**EVENTS, **sms_broadcast.OTHER_KINDS},
                  channels=CHANNEL_NAMES)


@route("GET", "/sms/balance", roles=ALL_ROLES, permission=SEND)
async def balance_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        overview = await sms_broadcast.balance_overview(conn, scope)
    return render(request, "sms_balance.html", **overview)


@route("POST", "/sms/balance/topup", roles=ADMINS)
async def balance_topup(request: web.Request, scope):
    form = await request.post()
    raw_amount, raw_price = str(form.get("amount", "")).strip(), str(form.get("price", "")).strip()
    async with request.app["pool"].acquire() as conn:
        currency = (await profile.isp_info(conn, scope))["currency"]
        try:
            amount = parse_amount(raw_amount, currency) if raw_amount else 0
            price = parse_amount(raw_price, currency) if raw_price else None
            balance = await sms_broadcast.top_up(conn, scope, _int(form.get("operator_id")) or 0, amount, price,
                                                 str(form.get("memo", "")).strip() or None, client_ip(request))
        except ValidationError as exc:
            return redirect(request, "/sms/balance", str(exc), "error")
    from radbill.billing.money import format_minor

    return redirect(request, "/sms/balance", _("SMS balance is now %(balance)s.",
                                               balance=format_minor(balance, currency)))


# --- delivery reports (server to server) ------------------------------------------------------------------

@route("GET", "/sms/dlr/{gateway_id:\\d+}/{token}", machine=True, name="sms_dlr_get")
@route("POST", "/sms/dlr/{gateway_id:\\d+}/{token}", machine=True, name="sms_dlr_post")
async def delivery_report(request: web.Request, _scope):
    """A provider's delivery report: the unguessable token in the address authenticates it (providers cannot
    sign with our CSRF token); fields come from the query, a form or JSON."""
    fields = dict(request.query)
    if request.method == "POST":
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise web.HTTPBadRequest(text="malformed JSON") from None
            fields.update(body if isinstance(body, dict) else {})
        else:
            fields.update(await request.post())
    async with request.app["pool"].acquire() as conn:
        changed = await sms.record_delivery_report(conn, int(request.match_info["gateway_id"]),
                                                   request.match_info["token"], fields)
    return web.json_response({"status": "ok", "updated": changed})
