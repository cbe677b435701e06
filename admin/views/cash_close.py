"""Cash close: each collector's day (by method), closing it with what was handed over, and a printable sheet.
Rules live in radbill/services/cash_close.py; a manager sees only their own day and cannot close it."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from aiohttp import web

from admin.routing import ALL_ROLES, route
from admin.web import redirect, render
from radbill import clock
from radbill.billing.money import parse_amount
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.services import cash_close, reports

COLLECT = "billing.collect"
CLOSERS = cash_close.CLOSERS


def _day(text: str | None, timezone: str) -> date:
    """A YYYY-MM-DD day from the address, else today where the viewer is; a bad one says how to write it."""
    if not text:
        return clock.now().astimezone(ZoneInfo(timezone)).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(_("Write the day as YYYY-MM-DD, for example 2026-11-27."), {"day": _("not a date")}) \
            from None


@route("GET", "/cash-close", roles=ALL_ROLES, permission=COLLECT)
async def cash_close_list(request: web.Request, scope):
    day = _day(request.query.get("day"), request["session"].timezone)
    async with request.app["pool"].acquire() as conn:
        rows = await cash_close.day_list(conn, scope, day)
    return render(request, "cash_close_list.html", rows=rows, day=day)


async def _detail(request, scope, template: str, *, form=None, errors=None, message=None, status=200):
    collector_id = int(request.match_info["account_id"])
    day = _day(request.query.get("day"), request["session"].timezone)
    async with request.app["pool"].acquire() as conn:
        data = await cash_close.day_close(conn, scope, collector_id, day)
        isp = await reports.isp_for(conn, data.collector["operator_id"])
    return render(request, template, status=status, d=data, isp=isp, form=form or {}, errors=errors or {},
                  message=message, may_close=scope.role in CLOSERS)


DAY_PATH = "/cash-close/{account_id:\\d+}"  # ?day=YYYY-MM-DD (default: today); the account is the collector


@route("GET", DAY_PATH, roles=ALL_ROLES, permission=COLLECT)
async def cash_close_day(request: web.Request, scope):
    return await _detail(request, scope, "cash_close_day.html")


@route("GET", DAY_PATH + "/print", roles=ALL_ROLES, permission=COLLECT)
async def cash_close_print(request: web.Request, scope):
    return await _detail(request, scope, "cash_close_print.html")


@route("POST", DAY_PATH, roles=CLOSERS, permission=COLLECT)
async def cash_close_submit(request: web.Request, scope):
    """Close the day with the amount handed over (a second close is refused: the first one stands)."""
    posted = await request.post()
    form = {k: str(posted.get(k, "") or "").strip() for k in ("handed_over", "note")}
    collector_id = int(request.match_info["account_id"])
    day = _day(str(posted.get("day", "") or "") or request.query.get("day"), request["session"].timezone)
    async with request.app["pool"].acquire() as conn:
        try:
            current = await cash_close.day_close(conn, scope, collector_id, day)
            amount = parse_amount(form["handed_over"], current.currency)
            await cash_close.close_day(conn, scope, collector_id, day, amount, form["note"])
        except ValidationError as exc:
            errors = dict(exc.fields)
            if "amount" in errors:
                errors["handed_over"] = str(exc)
            return await _detail(request, scope, "cash_close_day.html", form=form, errors=errors, message=str(exc),
                                 status=422)
    return redirect(request, f"/cash-close/{collector_id}?day={day.isoformat()}", _("Day closed."))
