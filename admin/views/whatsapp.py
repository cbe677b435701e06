"""WhatsApp page: the Cloud API sender (secrets set once), per-event channel and template, a test send; the
platform's status webhook (server to server, signed)."""

from __future__ import annotations

from aiohttp import web

from admin.routing import ADMINS, route
from admin.web import client_ip, redirect, render
from radbill.errors import ValidationError
from radbill.i18n import _, lazy_gettext
from radbill.services import whatsapp, whatsapp_config
from radbill.sms import EVENTS
from radbill.sms.whatsapp import TEMPLATE_PARAMETERS

PAGE = dict(roles=ADMINS, section=lazy_gettext("WhatsApp"))
CHANNEL_LABELS = {"sms": lazy_gettext("SMS"), "whatsapp": lazy_gettext("WhatsApp"),
                  "whatsapp_then_sms": lazy_gettext("WhatsApp, SMS if it fails")}
LANGUAGE_LABELS = {"bn": lazy_gettext("Bangla (bn)"), "en": lazy_gettext("English (en)")}


def _page(request: web.Request, state: dict, status: int = 200, errors: dict | None = None,
          message: str | None = None, form: dict | None = None) -> web.Response:
    events = [{"event": e, "label": EVENTS[e], "parameters": ", ".join("{" + p + "}" for p in params)}
              for e, params in TEMPLATE_PARAMETERS.items()]
    return render(request, "whatsapp.html", status=status, form=form or state["form"], state=state,
                  errors=errors or {}, message=message, events=events, channels=CHANNEL_LABELS,
                  languages=LANGUAGE_LABELS, webhook=f"{request.scheme}://{request.host}/whatsapp/webhook")


@route("GET", "/whatsapp", **PAGE)
async def whatsapp_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        state = await whatsapp_config.settings_for(conn, scope)
    return _page(request, state)


@route("POST", "/whatsapp", **PAGE)
async def whatsapp_save(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            await whatsapp_config.save_settings(conn, scope, form, client_ip(request))
        except ValidationError as exc:
            state = await whatsapp_config.settings_for(conn, scope)
            shown = {k: v for k, v in form.items() if k not in ("access_token", "app_secret", "verify_token")}
            return _page(request, state, 422, exc.fields, str(exc), shown)
    return redirect(request, "/whatsapp", _("WhatsApp settings saved."))


@route("POST", "/whatsapp/test", **PAGE)
async def whatsapp_test(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            sent = await whatsapp_config.send_test(conn, scope, str(form.get("to") or ""),
                                                   str(form.get("template") or ""), str(form.get("language") or ""),
                                                   client_ip(request))
        except ValidationError as exc:
            return redirect(request, "/whatsapp", str(exc) + " " + " ".join(exc.fields.values()), "error")
    if sent.ok:
        return redirect(request, "/whatsapp", _("Test message accepted by WhatsApp (id %(wamid)s).",
                                                wamid=sent.provider_message_id))
    return redirect(request, "/whatsapp", _("WhatsApp did not take the test message: %(error)s",
                                            error=whatsapp_config.shown_error(sent.error)), "error")


# --- status webhooks (server to server) ----------------------------------------------------------------------

@route("GET", "/whatsapp/webhook", machine=True, name="whatsapp_webhook_verify")
async def webhook_verify(request: web.Request, _scope):
    """The platform's subscription handshake: echo the challenge when the verify token is one we issued."""
    q = request.query
    async with request.app["pool"].acquire() as conn:
        ok = await whatsapp.verify_handshake(conn, q.get("hub.mode"), q.get("hub.verify_token"))
    if not ok:
        raise web.HTTPForbidden(text="unknown verify token")
    return web.Response(text=q.get("hub.challenge", ""), content_type="text/plain")


@route("POST", "/whatsapp/webhook", machine=True, name="whatsapp_webhook")
async def webhook(request: web.Request, _scope):
    """Statuses of sent messages; the body must carry the sender's X-Hub-Signature-256 (else 401, no change)."""
    raw = await request.read()
    async with request.app["pool"].acquire() as conn:
        try:
            changed = await whatsapp.record_statuses(conn, raw, request.headers.get("X-Hub-Signature-256"))
        except whatsapp.SignatureRefused:
            raise web.HTTPUnauthorized(text="signature refused") from None
    return web.json_response({"status": "ok", "updated": changed})
