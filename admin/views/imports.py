"""Customers → Import: template, upload, mapping, dry-run review, background import with progress, rollback."""

from __future__ import annotations

import json

from aiohttp import web

from admin import confirm
from admin.routing import ALL_ROLES, may, route
from admin.web import client_ip, redirect, render
from radbill import importing
from radbill.errors import PermissionDenied, ValidationError
from radbill.i18n import _, lazy_gettext, ngettext
from radbill.importing.rows import LOOKUPS
from radbill.routeros import RouterError
from radbill.services import imports
from radbill.validate import optional_id

EDIT = "customers.edit"
BATCH = "/customers/import/{batch_id:\\d+}"
REVIEW_SHOWN = 300  # rows listed on the review page; the download has them all


def _batch_id(request: web.Request) -> int:
    return int(request.match_info["batch_id"])


async def _example(conn, scope) -> list[str]:
    options = await imports.catalog_for(conn, scope)
    first = {k: (v[0][1] if v else "") for k, v in (("package", options.packages), ("profile", options.profiles),
                                                  ("zone", options.zones))}
    return importing.example_row(first["package"] or "Home 10", first["profile"] or "Monthly", first["zone"])


@route("GET", "/customers/import", roles=ALL_ROLES, permission=EDIT)
async def import_start(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        batches = await imports.list_batches(conn, scope)
        from_router = may(scope, "/customers/import/mikrotik", "POST")  # the form's own route decides
        routers = await imports.api_routers(conn, scope) if from_router else []
    return render(request, "import_start.html", batches=batches, routers=routers,
                  may_read_routers=from_router and (bool(routers) or imports.may_read_routers(scope)), limit_mb=importing.MAX_FILE_BYTES // 1_000_000,
                  fields=importing.FIELDS)


@route("GET", "/customers/import/template.csv", roles=ALL_ROLES, permission=EDIT)
async def template_csv(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        body = importing.template_csv(await _example(conn, scope))
    return web.Response(body=body, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="radbill-customers.csv"'})


@route("GET", "/customers/import/template.xlsx", roles=ALL_ROLES, permission=EDIT)
async def template_xlsx(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        body = importing.template_xlsx(await _example(conn, scope))
    return web.Response(body=body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": 'attachment; filename="radbill-customers.xlsx"'})


@route("POST", "/customers/import", roles=ALL_ROLES, permission=EDIT)
async def upload(request: web.Request, scope):
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return redirect(request, "/customers/import", _("Choose a CSV or Excel (.xlsx) file to upload."), "error")
    data = upload.file.read(importing.MAX_FILE_BYTES + 1)
    try:
        table = importing.read_table(data, upload.filename or "")
    except importing.ImportFileError as exc:
        return redirect(request, "/customers/import", f"{upload.filename}: {exc}", "error")  # both parts translated
    async with request.app["pool"].acquire() as conn:
        batch_id = await imports.create_batch(conn, scope, table, filename=upload.filename or "")
    return redirect(request, f"/customers/import/{batch_id}/map",
                    _("Read %(count)s rows from %(file)s. Check which column holds what.", count=len(table.rows),
                      file=upload.filename))


# sub-operators too: the service lets one read only a router its operator granted to its login
@route("POST", "/customers/import/mikrotik", roles=ALL_ROLES, permission="routers.manage",
       section=lazy_gettext("Routers (NAS)"))
async def from_router(request: web.Request, scope):
    if not scope.can(EDIT):
        raise PermissionDenied(_("Importing customers needs the customers.edit permission."))
    form = await request.post()
    nas_id = optional_id(form.get("nas_id")) or 0
    async with request.app["pool"].acquire() as conn:
        try:
            batch_id, disabled = await imports.create_batch_from_router(conn, scope, nas_id)
        except (RouterError, ValidationError) as exc:
            return redirect(request, "/customers/import", str(exc), "error")
    message = (_("Read the router's PPP secrets (%(count)s disabled secrets left out). Map each PPP profile to a "
                 "package.", count=disabled) if disabled
               else _("Read the router's PPP secrets. Map each PPP profile to a package."))
    return redirect(request, f"/customers/import/{batch_id}/map", message)


def _value_lists(batch, table, mapping) -> dict:
    _mapping, defaults = imports.batch_mapping(batch)
    lists = {}
    for lookup, (_form_key, map_key) in LOOKUPS.items():
        values = importing.distinct_values(table, mapping, lookup)
        chosen = defaults.get(map_key) or {}
        lists[lookup] = {"map_key": map_key, "values": [(v, chosen.get(v, "")) for v in values]}
    return lists


async def _render_map(request, scope, conn, batch_id: int, problems: list[str], status: int = 200):
    batch = await imports.get_batch(conn, scope, batch_id)
    table = imports.batch_table(batch)
    mapping, defaults = imports.batch_mapping(batch)
    options = await imports.catalog_for(conn, scope)
    return render(request, "import_map.html", status=status, batch=batch, table=table, mapping=mapping,
                  defaults=defaults, options=options, fields=importing.FIELDS,
                  samples=importing.column_samples(table.rows, len(table.headers)),
                  value_lists=_value_lists(batch, table, mapping), profiles=imports.router_profiles(batch),
                  problems=problems, warnings=importing.mapping_warnings(table.headers, mapping))


@route("GET", BATCH + "/map", roles=ALL_ROLES, permission=EDIT)
async def mapping_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        return await _render_map(request, scope, conn, _batch_id(request), [])


@route("POST", BATCH + "/map", roles=ALL_ROLES, permission=EDIT)
async def mapping_save(request: web.Request, scope):
    form = await request.post()
    batch_id = _batch_id(request)
    async with request.app["pool"].acquire() as conn:
        batch = await imports.get_batch(conn, scope, batch_id)
        mapping, defaults = importing.mapping_from_form(form, len(json.loads(batch["headers"])))
        problems = await imports.save_mapping(conn, scope, batch_id, mapping, defaults)
        if problems or form.get("action") == "refresh":
            return await _render_map(request, scope, conn, batch_id, problems, 422 if problems else 200)
    return redirect(request, f"/customers/import/{batch_id}/review")


@route("GET", BATCH + "/review", roles=ALL_ROLES, permission=EDIT)
async def review_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        batch, table, review = await imports.review(conn, scope, _batch_id(request))
    mapping, defaults = imports.batch_mapping(batch)
    shown = request.query.get("show", "problems")
    rows = [r for r in review.rows if shown == "all" or r.status != "new"][:REVIEW_SHOWN]
    return render(request, "import_review.html", batch=batch, table=table, review=review, rows=rows, shown=shown,
                  problems=importing.check_mapping(mapping, defaults), problem_text=importing.problem_text,
                  limit=REVIEW_SHOWN)


@route("GET", BATCH + "/problems.csv", roles=ALL_ROLES, permission=EDIT)
async def problems_csv(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        batch, table, review = await imports.review(conn, scope, _batch_id(request))
    return web.Response(body=importing.problem_rows_csv(table, review), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="import-{batch["id"]}-rows-to-fix.csv"'})


@route("POST", BATCH + "/start", roles=ALL_ROLES, permission=EDIT)
async def start(request: web.Request, scope):
    form = await request.post()
    batch_id = _batch_id(request)
    async with request.app["pool"].acquire() as conn:
        try:
            await imports.start_import(conn, scope, batch_id, bill=form.get("bill") == "now")
        except ValidationError as exc:
            return redirect(request, f"/customers/import/{batch_id}/review", str(exc), "error")
    imports.launch(request.app["pool"], scope, batch_id, client_ip(request))
    return redirect(request, f"/customers/import/{batch_id}")


@route("GET", BATCH, roles=ALL_ROLES, permission=EDIT)
async def progress(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        batch = await imports.get_batch(conn, scope, _batch_id(request))
        items = await imports.batch_problems(conn, batch)
    failures = [(r["line"], r["username"], r["status"], importing.problem_text(json.loads(r["detail"])))
                for r in items]
    return render(request, "import_progress.html", batch=batch, failures=failures)


@route("POST", BATCH + "/rollback", roles=ALL_ROLES, permission=EDIT)
async def rollback(request: web.Request, scope):
    batch_id = _batch_id(request)
    back = f"/customers/import/{batch_id}"
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            if not confirm.confirmed(form):
                return _confirm_rollback(request, batch_id, await imports.rollback_preview(conn, scope, batch_id))
            result = await imports.rollback_batch(conn, scope, batch_id, client_ip(request))
        except ValidationError as exc:
            return redirect(request, back, str(exc), "error")
    message = (_("Rolled back: %(removed)s imported customers removed. %(kept)s kept because something happened to "
                 "them since (listed below).", removed=result.removed, kept=len(result.kept)) if result.kept
               else _("Rolled back: %(removed)s imported customers removed.", removed=result.removed))
    return redirect(request, back, message)


def _confirm_rollback(request: web.Request, batch_id: int, plan: imports.RollbackResult) -> web.Response:
    consequences = [
        ngettext("%(num)d customer this import created is deleted, with their login: it stops working at once.",
                 "%(num)d customers this import created are deleted, with their logins: they stop working at once.",
                 plan.removed),
        _("This cannot be undone: to get them back, import the file again.")]
    if plan.kept:
        consequences.append(ngettext(
            "%(num)d customer is kept because something happened to them since (paid, online, billed or edited).",
            "%(num)d customers are kept because something happened to them since (paid, online, billed or edited).",
            len(plan.kept)))
    return confirm.ask(request, title=_("Roll back import %(id)s?", id=batch_id), consequences=consequences,
                       action=f"/customers/import/{batch_id}/rollback", yes=_("Yes, roll back this import"),
                       back=f"/customers/import/{batch_id}")
