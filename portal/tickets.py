"""Support tickets for the customer: my tickets, open one (with an optional photo), the thread with staff replies,
reply, close and reopen, and my photos. Thin handlers over radbill.services.tickets with the customer's
CustomerScope: another customer's ticket or photo is a 404, exactly like a missing one."""

from __future__ import annotations

from aiohttp import web

from portal import session as ps
from portal.render import redirect, render
from radbill.errors import NotFound, ValidationError
from radbill.i18n import _
from radbill.services import tickets
from radbill.services.uploads import photo_path


def _uploads(request: web.Request):
    return request.app["config"].var_dir / "uploads"


def _photo(request: web.Request, form) -> tickets.Photo | None:
    """The optional photo field (an empty file input sends a part with no bytes: no photo)."""
    field = form.get("photo")
    data = field.file.read() if hasattr(field, "file") else b""
    return tickets.Photo(data, _uploads(request)) if data else None


def _ticket_id(request: web.Request) -> int:
    value = int(request.match_info["ticket_id"])
    if value >= 2**63:
        raise web.HTTPNotFound()
    return value


async def _timezone(conn, operator_id: int) -> str:
    return await conn.fetchval("SELECT timezone FROM operators WHERE id = $1", operator_id)


@ps.customer
async def ticket_list(request: web.Request) -> web.Response:
    me = ps.current(request)
    async with request.app["pool"].acquire() as conn:
        rows = await tickets.customer_tickets(conn, me.scope)
        tz = await _timezone(conn, me.operator_id)
    return render(request, "tickets.html", rows=rows, tz=tz, statuses=tickets.STATUSES,
                  categories=tickets.CATEGORIES)


def _new_form(request: web.Request, status: int = 200, form: dict | None = None, error: str | None = None,
              errors: dict | None = None) -> web.Response:
    form = {"category": "", "subject": "", "text": ""} | (form or {})
    return render(request, "ticket_new.html", status=status, form=form, error=error, errors=errors or {},
                  categories=tickets.CATEGORIES, max_body=tickets.MAX_BODY, max_subject=tickets.MAX_SUBJECT)


@ps.customer
async def ticket_new(request: web.Request) -> web.Response:
    return _new_form(request)


@ps.upload
@ps.customer
async def ticket_create(request: web.Request) -> web.Response:
    me = ps.current(request)
    form = await request.post()
    shown = {k: str(form.get(k, ""))[:tickets.MAX_BODY + 1] for k in ("category", "subject", "text")}
    async with request.app["pool"].acquire() as conn:
        try:
            ticket = await tickets.open_ticket(conn, me.scope, me.customer_id, shown["category"], shown["subject"],
                                               shown["text"], _photo(request, form), ip=ps.client_ip(request))
        except ValidationError as exc:
            return _new_form(request, 422, shown, str(exc), exc.fields)
    return redirect(f"/tickets/{ticket['id']}?opened=1")


async def _ticket_page(request: web.Request, ticket_id: int, status: int = 200, error: str | None = None,
                       text: str = "") -> web.Response:
    me = ps.current(request)
    async with request.app["pool"].acquire() as conn:
        ticket = await tickets.get_ticket(conn, me.scope, ticket_id)
        messages = await tickets.thread(conn, me.scope, ticket_id)
    notice = {"opened": _("Your ticket is open. We will reply here and send you an SMS."),
              "replied": _("Your message was sent."), "closed": _("The ticket is closed."),
              "reopened": _("The ticket is open again.")}
    done = next((v for k, v in notice.items() if request.query.get(k) == "1"), None)
    return render(request, "ticket.html", status=status, ticket=ticket, messages=messages, tz=ticket["timezone"],
                  statuses=tickets.STATUSES, categories=tickets.CATEGORIES, error=error, notice=done, text=text,
                  max_body=tickets.MAX_BODY)


@ps.customer
async def ticket_page(request: web.Request) -> web.Response:
    return await _ticket_page(request, _ticket_id(request))


@ps.upload
@ps.customer
async def ticket_reply(request: web.Request) -> web.Response:
    me, ticket_id = ps.current(request), _ticket_id(request)
    form = await request.post()
    text = str(form.get("text", ""))[:tickets.MAX_BODY + 1]
    async with request.app["pool"].acquire() as conn:
        try:
            await tickets.reply(conn, me.scope, ticket_id, text, _photo(request, form), ip=ps.client_ip(request))
        except ValidationError as exc:
            return await _ticket_page(request, ticket_id, 422, str(exc), text)
    return redirect(f"/tickets/{ticket_id}?replied=1")


@ps.customer
async def ticket_status(request: web.Request) -> web.Response:
    me, ticket_id = ps.current(request), _ticket_id(request)
    form = await request.post()
    actions = {"close": (tickets.close, "closed"), "reopen": (tickets.reopen, "reopened")}
    if form.get("action") not in actions:
        return await _ticket_page(request, ticket_id, 422, _("Choose close or reopen."))
    action, done = actions[str(form["action"])]
    async with request.app["pool"].acquire() as conn:
        await action(conn, me.scope, ticket_id, ip=ps.client_ip(request))
    return redirect(f"/tickets/{ticket_id}?{done}=1")


@ps.customer
async def ticket_photo(request: web.Request) -> web.Response:
    me = ps.current(request)
    async with request.app["pool"].acquire() as conn:
        photo = await tickets.attachment(conn, me.scope, int(request.match_info["attachment_id"]))
    path = photo_path(_uploads(request), photo["sha256"])
    if not path.is_file():
        raise NotFound(_("The photo was not found."))
    # the type recorded from the magic bytes at upload, never guessed again; nosniff and no-store come from the
    # security_headers middleware (a private photo must not sit in a shared cache)
    return web.Response(body=path.read_bytes(), content_type=photo["content_type"],
                        headers={"Content-Disposition": "inline", "X-Content-Type-Options": "nosniff"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/tickets", ticket_list)
    app.router.add_get("/tickets/new", ticket_new)
    app.router.add_post("/tickets/new", ticket_create)
    app.router.add_get(r"/tickets/{ticket_id:\d{1,19}}", ticket_page)
    app.router.add_post(r"/tickets/{ticket_id:\d{1,19}}/reply", ticket_reply)
    app.router.add_post(r"/tickets/{ticket_id:\d{1,19}}/status", ticket_status)
    app.router.add_get(r"/tickets/photos/{attachment_id:\d{1,18}}", ticket_photo)
