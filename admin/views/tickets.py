"""Support tickets: the list (filters), a ticket's thread with reply / assign / close, opening one for a customer,
and the photos customers attach. Scoped like customers: a foreign id is a 404."""

from __future__ import annotations

from aiohttp import web

from admin.routing import ALL_ROLES, route
from admin.web import client_ip, redirect, render
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.services import customer_records, tickets
from radbill.services.uploads import photo_path
from radbill.validate import optional_id

VIEW, EDIT = "customers.view", "customers.edit"


def _photo(request: web.Request, form) -> tickets.Photo | None:
    """The optional photo field of a multipart form (a plain form, or an empty file input, has none)."""
    field = form.get("photo")
    data = field.file.read() if hasattr(field, "file") else b""
    return tickets.Photo(data, request.app["config"].var_dir / "uploads") if data else None


@route("GET", "/tickets", roles=ALL_ROLES, permission=VIEW)
async def ticket_list(request: web.Request, scope):
    q = request.query
    filters = {"status": q.get("status") or None, "category": q.get("category") or None,
               "assigned_to_me": q.get("mine") == "1", "query": q.get("q", ""),
               "customer_id": optional_id(q.get("customer_id"))}
    page = optional_id(q.get("page")) or 1
    async with request.app["pool"].acquire() as conn:
        rows, more = await tickets.list_tickets(conn, scope, page=page, **filters)
    return render(request, "tickets.html", rows=rows, more=more, page=page, filters=filters,
                  statuses=tickets.STATUSES, categories=tickets.CATEGORIES)


@route("GET", "/tickets/{ticket_id:\\d+}", roles=ALL_ROLES, permission=VIEW)
async def ticket_page(request: web.Request, scope):
    ticket_id = int(request.match_info["ticket_id"])
    async with request.app["pool"].acquire() as conn:
        ticket = await tickets.get_ticket(conn, scope, ticket_id)
        messages = await tickets.thread(conn, scope, ticket_id)
        staff = await tickets.assignable_staff(conn, scope, ticket)
    return render(request, "ticket.html", ticket=ticket, messages=messages, staff=staff,
                  statuses=tickets.STATUSES, categories=tickets.CATEGORIES)


@route("POST", "/tickets/{ticket_id:\\d+}/reply", roles=ALL_ROLES, permission=EDIT)
async def ticket_reply(request: web.Request, scope):
    ticket_id = int(request.match_info["ticket_id"])
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        await tickets.get_ticket(conn, scope, ticket_id)  # a foreign id is a 404 before the form is judged
        try:
            await tickets.reply(conn, scope, ticket_id, str(form.get("text", "")), _photo(request, form),
                                ip=client_ip(request))
        except ValidationError as exc:
            return redirect(request, f"/tickets/{ticket_id}", str(exc), "error")
    return redirect(request, f"/tickets/{ticket_id}", _("Reply sent. The customer gets an SMS about it if they have a mobile number."))


@route("POST", "/tickets/{ticket_id:\\d+}/assign", roles=ALL_ROLES, permission=EDIT)
async def ticket_assign(request: web.Request, scope):
    ticket_id = int(request.match_info["ticket_id"])
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        await tickets.get_ticket(conn, scope, ticket_id)
        try:
            ticket = await tickets.assign(conn, scope, ticket_id, optional_id(form.get("assigned_to")),
                                          ip=client_ip(request))
        except ValidationError as exc:
            return redirect(request, f"/tickets/{ticket_id}", str(exc), "error")
    message = (_("Ticket assigned to %(name)s.", name=ticket["assignee_username"]) if ticket["assigned_to"]
               else _("Ticket unassigned."))
    return redirect(request, f"/tickets/{ticket_id}", message)


@route("POST", "/tickets/{ticket_id:\\d+}/status", roles=ALL_ROLES, permission=EDIT)
async def ticket_status(request: web.Request, scope):
    ticket_id = int(request.match_info["ticket_id"])
    form = await request.post()
    actions = {"close": (tickets.close, _("Ticket closed.")), "reopen": (tickets.reopen, _("Ticket reopened."))}
    async with request.app["pool"].acquire() as conn:
        await tickets.get_ticket(conn, scope, ticket_id)
        if form.get("action") not in actions:
            return redirect(request, f"/tickets/{ticket_id}", _("Choose close or reopen."), "error")
        action, done = actions[str(form["action"])]
        await action(conn, scope, ticket_id, ip=client_ip(request))
    return redirect(request, f"/tickets/{ticket_id}", done)


@route("GET", "/customers/{customer_id:\\d+}/tickets/new", roles=ALL_ROLES, permission=EDIT)
async def ticket_new(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        data = await customer_records.detail(conn, scope, int(request.match_info["customer_id"]))
    return render(request, "ticket_new.html", customer=data["customer"], form={}, errors={},
                  categories=tickets.CATEGORIES)


@route("POST", "/customers/{customer_id:\\d+}/tickets/new", roles=ALL_ROLES, permission=EDIT)
async def ticket_create(request: web.Request, scope):
    customer_id = int(request.match_info["customer_id"])
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        data = await customer_records.detail(conn, scope, customer_id)  # a foreign id is a 404 first
        try:
            ticket = await tickets.open_ticket(conn, scope, customer_id, str(form.get("category", "")),
                                               str(form.get("subject", "")), str(form.get("text", "")),
                                               _photo(request, form), ip=client_ip(request))
        except ValidationError as exc:
            shown = {k: str(form.get(k, "")) for k in ("category", "subject", "text")}
            return render(request, "ticket_new.html", status=422, customer=data["customer"], form=shown,
                          errors=exc.fields, message=str(exc), categories=tickets.CATEGORIES)
    return redirect(request, f"/tickets/{ticket['id']}", _("Ticket opened."))


@route("GET", "/tickets/photos/{attachment_id:\\d+}", roles=ALL_ROLES, permission=VIEW)
async def ticket_photo(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        photo = await tickets.attachment(conn, scope, int(request.match_info["attachment_id"]))
    path = photo_path(request.app["config"].var_dir / "uploads", photo["sha256"])
    if not path.is_file():
        raise web.HTTPNotFound()
    # the type recorded from the magic bytes at upload, never guessed again; nosniff comes from the pipeline
    return web.Response(body=path.read_bytes(), content_type=photo["content_type"],
                        headers={"Content-Disposition": "inline"})
