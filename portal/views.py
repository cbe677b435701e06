"""Pay page, gateway returns/notifications and receipts: thin handlers over radbill.payments."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

import asyncpg
from aiohttp import web

from portal.render import render
from portal.session import client_ip, machine
from radbill import i18n
from radbill.errors import NotFound, RadbillError, ValidationError
from radbill.i18n import _
from radbill.payments import links
from radbill.payments.flow import handle_incoming, recheck_for_receipt, start_payment
from radbill.payments.gateway import ReturnUrls
from radbill.payments.settle import create_intent, gateways_for, mask_username
from radbill.services import walled_garden
from radbill.tenancy import Scope

log = logging.getLogger("radbill.portal")
CSRF_COOKIE = "radbill_pay_csrf"
GATEWAY_NAMES = {"bkash": "bKash", "sslcommerz": "SSLCommerz", "nagad": "Nagad"}
# A customer may still be on the gateway's page; after this the intent expires (a later capture is still credited)
INTENT_TTL = timedelta(minutes=30)


def csp(form_targets: str = "") -> str:
    # form-action also governs where a form's redirect may lead (Chromium enforces it): the gateways' pages
    return ("default-src 'none'; img-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
            f"form-action 'self' https: {form_targets}".strip())


@web.middleware
async def security_headers(request: web.Request, handler):
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", csp())
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    # same-origin: no Referer leaves for another site, so a pay link's token never reaches the gateway; not
    # no-referrer, under which Chromium sends `Origin: null` on the portal's own form posts and the CSRF check
    # (same origin, portal/session.py) refused every login
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _problem(request, status: int, title: str, message: str) -> web.Response:
    return render(request, "message.html", status=status, title=title, message=message)


def _not_found(request) -> web.Response:
    # Only a pay link (/pay/...) is something a customer got from their provider; anything else is a page that
    # is not there (or is another customer's, which looks the same).
    if request.path.startswith("/pay/"):
        return _problem(request, 404, _("Link not valid"), _(
            "This link is not valid or has expired. Ask your internet provider for a new payment link."))
    return _problem(request, 404, _("Page not found"), _(
        "There is nothing here. Go back to your account's home page and try again from there."))


@web.middleware
async def errors(request: web.Request, handler):
    accept = request.headers.get("Accept-Language", "")
    with i18n.use_locale("bn" if accept.lower().startswith("bn") else None):
        return await _answer(request, handler)


async def _answer(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status == 404:
            return _not_found(request)
        if exc.status == 405:
            return _problem(request, 405, _("Not allowed"), _("This page cannot be used that way."))
        if exc.status == 413:  # only a form with a photo may be this large (portal/session.py UPLOAD_MAX_BYTES)
            return _problem(request, 413, _("Photo too large"), _(
                "The photo is larger than 2 MB, so nothing was sent. Go back and choose a smaller photo."))
        raise
    except NotFound:
        return _not_found(request)
    except RadbillError as exc:
        return _problem(request, 400, _("That did not work"), str(exc))
    except (asyncpg.PostgresError, OSError):
        log.exception("portal error on %s %s", request.method, request.path)
        return _problem(request, 503, _("Please try again"), _(
            "We could not take your request just now. Wait a minute, then open the link again."))


# ---- CSRF without a session: a signed double-submit token, bound to the pay link -----------------------------

def _csrf_value(request: web.Request, pay_token: str, nonce: str) -> str:
    key = request.app["config"].secret_key.reveal().encode()
    return hmac.new(key, f"pay:{pay_token}:{nonce}".encode(), hashlib.sha256).hexdigest()


def _csrf_ok(request: web.Request, pay_token: str, submitted: str) -> bool:
    nonce = request.cookies.get(CSRF_COOKIE, "")
    return bool(nonce) and hmac.compare_digest(_csrf_value(request, pay_token, nonce), submitted or "")


# ---- handlers ------------------------------------------------------------------------------------------------

async def _page(request: web.Request, conn, link, status: int = 200, error: str | None = None) -> web.Response:
    due = await links.amount_due(conn, link)
    gateways = await gateways_for(conn, link["customer_operator_id"])
    nonce = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(16)
    origins = " ".join(sorted({origin(g["base_url"]) for g in gateways}))
    response = render(request, "pay.html", status=status, isp_name=link["isp_name"],
                      username=mask_username(link["username"]), amount_minor=due, currency=link["currency"].strip(),
                      gateways=[{"id": g["id"], "name": GATEWAY_NAMES.get(g["kind"], g["kind"])} for g in gateways],
                      token=link["token"], csrf=_csrf_value(request, link["token"], nonce), error=error)
    response.headers["Content-Security-Policy"] = csp(origins)
    response.set_cookie(CSRF_COOKIE, nonce, path="/pay/", httponly=True, samesite="Lax",
                        secure=request.app["config"].cookie_secure and request.secure)
    return response


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def _link(conn, token: str):
    link = await links.open_link(conn, token)
    if link is None:
        raise NotFound("pay link not valid")
    return link


@machine
async def pay_page(request: web.Request) -> web.Response:
    async with request.app["pool"].acquire() as conn:
        return await _page(request, conn, await _link(conn, request.match_info["token"]))


@machine
async def pay_start(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    form = await request.post()
    pool = request.app["pool"]
    async with pool.acquire() as conn:
        link = await _link(conn, token)
        if not _csrf_ok(request, token, str(form.get("csrf", ""))):
            return await _page(request, conn, link, 400, _("The page had expired. Press Pay again."))
        due = await links.amount_due(conn, link)
        if due <= 0:
            return _problem(request, 200, _("Nothing to pay"), _("This bill is already paid. Thank you."))
        try:
            gateway_id = int(str(form.get("gateway", "")))
        except ValueError:
            return await _page(request, conn, link, 400, _("Choose how you want to pay."))
        try:
            started = await start_online_payment(request, conn, link["customer_id"], link["bill_id"],
                                                 None if link["bill_id"] else due, gateway_id, "pay_link")
        except (NotFound, ValidationError):
            return await _page(request, conn, link, 400, _("Choose how you want to pay."))
        except GatewayDown as exc:
            return await _page(request, conn, link, 503, str(exc))
    raise web.HTTPSeeOther(started)


class GatewayDown(RadbillError):
    """The gateway did not answer the start of a payment (the customer may try again)."""


async def start_online_payment(request: web.Request, conn, customer_id: int, bill_id: int | None,
                               amount_minor: int | None, gateway_id: int, origin: str) -> str:
    """A new intent for the customer's bill (or an advance amount) and the gateway page to send them to; the
    same return and notify routes whoever started it (a pay link or a logged-in customer). Run as the system:
    the intent's events are the system's rows; `customer_id` comes from a pay link or the session, never a form.
    NotFound/ValidationError for a bill or gateway that is not theirs or not payable, GatewayDown."""
    op = await conn.fetchrow("SELECT o.id, o.path FROM customers c JOIN operators o ON o.id = c.operator_id"
                             " WHERE c.id = $1", customer_id)
    if op is None:
        raise NotFound("customer not found")
    intent = await create_intent(conn, Scope.system(op["id"], str(op["path"])), customer_id, bill_id,
                                 amount_minor, gateway_id, origin, INTENT_TTL)
    base = request.app["config"].portal_base_url
    back = f"{base}/pay/return/{gateway_id}"
    urls = ReturnUrls(success=back, fail=back, cancel=back, notify=f"{base}/pay/notify/{gateway_id}")
    try:
        started = await start_payment(conn, intent, urls, request.app["http"])
    except RadbillError as exc:
        log.warning("gateway %s refused to start intent %s: %s", gateway_id, intent["id"], exc)
        raise GatewayDown(_("The payment service is not answering. Wait a minute, then press Pay again.")) from exc
    return started.redirect_url


@machine
async def gateway_return(request: web.Request) -> web.Response:
    """The browser coming back from the gateway, untrusted and verified: bKash and Nagad send a GET
    (callbackURL?paymentID=..&status=..), SSLCommerz a cross-site form POST (tran_id, val_id, verify_sign ...),
    which carries no cookie and needs no CSRF token: it can only make radbill ask the gateway."""
    gateway_id = _gateway_id(request)
    params = {k: str(v) for k, v in request.query.items()}
    if request.method == "POST":
        params.update({k: str(v) for k, v in (await request.post()).items()})
    result = await handle_incoming(request.app["pool"], gateway_id, "callback", params,
                                   session=request.app["http"])
    if result.reference:
        raise web.HTTPSeeOther(f"/pay/receipt/{result.reference}")
    return _problem(request, 400, _("Payment not found"), _(
        "We could not match this payment. If money left your account, contact your internet provider with the "
        "transaction ID from your SMS."))


@machine
async def gateway_notify(request: web.Request) -> web.Response:
    """A gateway's server-to-server notification (IPN): answered 200 whatever it said, once it is logged."""
    params = dict(await request.post()) or dict(request.query)
    await handle_incoming(request.app["pool"], _gateway_id(request), "ipn", {k: str(v) for k, v in params.items()},
                          session=request.app["http"])
    return web.Response(text="OK")


def _gateway_id(request: web.Request) -> int:
    try:
        value = int(request.match_info["gateway_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    if not 0 < value < 2**63:
        raise web.HTTPNotFound()
    return value


@machine
async def receipt(request: web.Request) -> web.Response:
    reference = request.match_info["reference"]
    if not 16 <= len(reference) <= 64:
        raise web.HTTPNotFound()
    await recheck_for_receipt(request.app["pool"], reference, session=request.app["http"])
    async with request.app["pool"].acquire() as conn:
        row = await conn.fetchrow(
            "SELECT i.status, i.amount_minor, i.currency, i.gateway_txn_id, i.origin, i.payment_id, g.kind, c.username,"
            "       c.id AS customer_id,"
            "       coalesce(o.business_name, o.name) AS isp_name"
            "  FROM payment_intents i JOIN payment_gateways g ON g.id = i.gateway_id"
            "  JOIN customers c ON c.id = i.customer_id JOIN operators o ON o.id = c.operator_id"
            " WHERE i.reference = $1", reference)
        refunded = await conn.fetchval(
            "SELECT coalesce(sum(r.amount_minor), 0) FROM payment_refunds r JOIN payment_intents i"
            " ON i.id = r.intent_id WHERE i.reference = $1 AND r.status = 'done'", reference)
        # paid from inside the walled garden: this connection is about to drop and come back at full speed
        reconnecting = row is not None and row["status"] == "paid" and await walled_garden.reconnecting(
            conn, row["customer_id"], client_ip(request))
    if row is None:
        raise web.HTTPNotFound()
    response = render(request, "receipt.html", status_=row["status"], amount_minor=row["amount_minor"],
                      currency=row["currency"].strip(), txn_id=row["gateway_txn_id"],
                      gateway=GATEWAY_NAMES.get(row["kind"], row["kind"]), username=mask_username(row["username"]),
                      isp_name=row["isp_name"], refunded_minor=refunded, origin=row["origin"],
                      payment_id=row["payment_id"], reconnecting=reconnecting)
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/pay/receipt/{reference}", receipt)
    app.router.add_get("/pay/return/{gateway_id}", gateway_return)
    app.router.add_post("/pay/return/{gateway_id}", gateway_return)
    app.router.add_post("/pay/notify/{gateway_id}", gateway_notify)
    app.router.add_get("/pay/{token}", pay_page)
    app.router.add_post("/pay/{token}", pay_start)
