"""Reports (dues by age, collections, reseller profit, customer movement, online now by router): one page per
report with filters, charts and downloads (CSV, XLSX, PDF). radbill.services.business_reports computes,
radbill.report_files formats; the dues list's SMS goes through the SMS broadcast page (its count-and-cost
confirmation), pre-filled with the same filters."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from admin.routing import ALL_ROLES, route
from admin.web import render
from radbill import clock, report_files
from radbill.i18n import _
from radbill.services import business_reports as br
from radbill.services import reports

REPORTS = {"roles": ALL_ROLES, "permission": "reports.view"}
FORMATS = ("csv", "xlsx", "pdf")


async def _build(request: web.Request, scope, kind: str, limit: int):
    filters = br.ReportFilters.from_query(request.query, request["session"].timezone, clock.now())
    async with request.app["pool"].acquire() as conn:
        report = await br.build(conn, scope, kind, filters, clock.now(), limit)
        operators = await reports.operators_in_scope(conn, scope)
        zones = await conn.fetch("SELECT z.id, z.name FROM zones z JOIN operators o ON o.id = z.operator_id"
                                 " WHERE o.path <@ $1::ltree ORDER BY z.name", scope.path)
    return filters, report, operators, zones


@route("GET", "/reports", **REPORTS)
async def report_index(request: web.Request, scope):
    return render(request, "reports.html", titles=br.TITLES)


async def report_page(request: web.Request, scope, kind: str):
    filters, report, operators, zones = await _build(request, scope, kind, br.PAGE_ROWS)
    charts = [(c, report_files.bars(c.items)) for c in report.charts]
    sms_query = urlencode({k: v for k, v in (("dues", filters.bucket or "all"), ("zone_id", filters.zone_id or ""),
                                               ("operator_id", filters.operator_id or "")) if v})
    return render(request, "report.html", report=report, filters=filters, charts=charts, operators=operators,
                  zones=zones, buckets=br.BUCKETS, groups=br.GROUP_LABELS, titles=br.TITLES,
                  query=request.query_string, sms_query=sms_query)


async def report_download(request: web.Request, scope, kind: str, fmt: str):
    filters, report, _operators, _zones = await _build(request, scope, kind, br.EXPORT_ROWS)
    if fmt == "csv":
        body = report_files.to_csv(report)
    elif fmt == "xlsx":
        body = report_files.to_xlsx(report)
    else:
        subtitle = _("%(from)s to %(to)s, %(zone)s · made %(now)s", **{
            "from": filters.start.strftime("%Y-%m"), "to": filters.last_month.strftime("%Y-%m"),
            "zone": filters.timezone, "now": clock.now().strftime("%Y-%m-%d %H:%M UTC")})
        body = report_files.to_pdf(report, subtitle)
    name = f"{report.kind}-{clock.now():%Y%m%d-%H%M}.{fmt}"
    return web.Response(body=body, content_type=report_files.CONTENT_TYPES[fmt],
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _declare(kind: str) -> None:
    """One plain path per report and file (no {parameter}): the route sweeps (access, phone, bad input) then
    open every report as they open any page."""
    async def page(request: web.Request, scope):
        return await report_page(request, scope, kind)

    route("GET", f"/reports/{kind}", name=f"report_{kind}", **REPORTS)(page)
    for fmt in FORMATS:
        async def download(request: web.Request, scope, fmt=fmt):
            return await report_download(request, scope, kind, fmt)

        route("GET", f"/reports/{kind}.{fmt}", name=f"report_{kind}_{fmt}", **REPORTS)(download)


for _kind in br.KINDS:
    _declare(_kind)
