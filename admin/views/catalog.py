"""Packages, billing profiles, their assignments to sub-operators, and zones (thin: radbill.services.catalog)."""

from __future__ import annotations

from aiohttp import web

from admin import confirm
from admin.routing import ALL_ROLES, OPERATORS, may, route
from admin.web import client_ip, redirect, render
from radbill.errors import ValidationError
from radbill.i18n import _, lazy_gettext, ngettext
from radbill.policy import format_rate
from radbill.services import catalog, ip_pools, pool_change, vat
from radbill.validate import optional_id

EDITING = {"roles": OPERATORS, "permission": "packages.manage",
           "section": lazy_gettext("Packages and billing-profile editing")}
HELPERS = {"rate_limit": catalog.rate_limit, "throttled_rate_limit": catalog.throttled_rate_limit,
           "format_rate": format_rate, "format_gigabytes": catalog.format_gigabytes,
           "connection_types": catalog.CONNECTION_TYPES}


def _id(request: web.Request, key: str) -> int:
    return int(request.match_info[key])


def _form(form) -> dict:
    return {**{k: str(v) for k, v in form.items()}, "connection_types": form.getall("connection_types", [])}


# ---- packages ------------------------------------------------------------------------------------------

@route("GET", "/packages", roles=ALL_ROLES, permission="customers.view")
async def packages_page(request: web.Request, scope):
    """Sub-operators: the packages assigned to them, with their wholesale price. Others: their subtree's."""
    async with request.app["pool"].acquire() as conn:
        if scope.role == "sub_operator":
            rows = await catalog.packages_for(conn, scope)
        else:
            rows = await catalog.list_packages(conn, scope, include_retired=False)
    can_edit = may(scope, "/packages/new")  # the editing routes' own declared access
    return render(request, "catalog_packages.html", packages=rows, manage=False, can_edit=can_edit, **HELPERS)


@route("GET", "/packages/manage", **EDITING)
async def packages_manage_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        rows = await catalog.list_packages(conn, scope, include_retired=True)
    return render(request, "catalog_packages.html", packages=rows, manage=True, can_edit=True, **HELPERS)


async def _package_page(request, conn, scope, package, form, errors, status=200, message=None, preview=None,
                        assign_form=None, assign_errors=None):
    context = {"package": package, "assignments": [], "operators": [],
               "pools": await ip_pools.list_pools(conn, scope, readable=True),
               "vat_profiles": await vat.list_profiles(conn, scope, readable=True)}
    if package is not None:
        context["assignments"] = await catalog.package_assignments(conn, scope, package["id"])
        context["operators"] = await catalog.assignable_operators(conn, scope, package["owner_path"])
    return render(request, "catalog_package_form.html", status=status, form=form, errors=errors, message=message,
                  preview=preview, assign_form=assign_form or {}, assign_errors=assign_errors or {}, **context,
                  **HELPERS)


@route("GET", "/packages/new", **EDITING)
async def package_new(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        return await _package_page(request, conn, scope, None,
                                   {"validity_days": "30", "connection_types": list(catalog.CONNECTION_TYPES)}, {})


@route("POST", "/packages/new", **EDITING)
async def package_create(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            if form.get("action") == "preview":
                preview = await catalog.preview_package(conn, scope, form)
                return await _package_page(request, conn, scope, None, _form(form), {}, preview=preview)
            package = await catalog.create_package(conn, scope, form, client_ip(request))
        except ValidationError as exc:
            return await _package_page(request, conn, scope, None, _form(form), exc.fields, 422, str(exc))
    return redirect(request, f"/packages/{package['id']}/edit",
                    _("Package %(name)s created: %(rate)s.", name=package["name"], rate=catalog.rate_limit(package)))


@route("GET", "/packages/{package_id:\\d+}/edit", **EDITING)
async def package_edit(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        package = await catalog.get_package(conn, scope, _id(request, "package_id"))
        form = catalog.package_form(package, await catalog.package_tiers(conn, package["id"]))
        return await _package_page(request, conn, scope, package, form, {})


def _confirm_pool_change(request, package, form, online: int):
    return confirm.ask(
        request, title=_("Change the IP pool of %(package)s?", package=package["name"]),
        consequences=[ngettext("%(count)s open session of this package's customers will be disconnected: a router "
                               "cannot move a session to another pool, so the customer logs in again and gets an "
                               "address from the new pool.",
                               "%(count)s open sessions of this package's customers will be disconnected: a router "
                               "cannot move a session to another pool, so the customers log in again and get an "
                               "address from the new pool.", online, count=online)],
        action=f"/packages/{package['id']}/edit", form=form, yes=_("Change the pool and disconnect"),
        back=f"/packages/{package['id']}/edit")


@route("POST", "/packages/{package_id:\\d+}/edit", **EDITING)
async def package_update(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        package = await catalog.get_package(conn, scope, _id(request, "package_id"))
        try:
            if form.get("action") == "preview":
                preview = await catalog.preview_package(conn, scope, form, package["id"])
                return await _package_page(request, conn, scope, package, _form(form), {}, preview=preview)
            new_pool = str(form.get("ip_pool") or "").strip() or None
            if new_pool != package["ip_pool"] and not confirm.confirmed(form):
                online = await pool_change.open_sessions_on_package(conn, scope, package["id"])
                if online:
                    return _confirm_pool_change(request, package, form, online)
            package = await catalog.update_package(conn, scope, package["id"], form, client_ip(request))
        except ValidationError as exc:
            return await _package_page(request, conn, scope, package, _form(form), exc.fields, 422, str(exc))
    return redirect(request, f"/packages/{package['id']}/edit",
                    _("Package saved; its customers get %(rate)s from their next login or CoA.",
                      rate=catalog.rate_limit(package)))


@route("POST", "/packages/{package_id:\\d+}/status", **EDITING)
async def package_status(request: web.Request, scope):
    form = await request.post()
    status = str(form.get("status", "") or "")  # the service checks it, after the 404 for a foreign id
    async with request.app["pool"].acquire() as conn:
        await catalog.set_package_status(conn, scope, _id(request, "package_id"), status, client_ip(request))
    return redirect(request, "/packages/manage", _("Package retired: customers keep it, nobody new gets it.")
                    if status == "retired" else _("Package reactivated."))


@route("POST", "/packages/{package_id:\\d+}/delete", **EDITING)
async def package_delete(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        try:
            await catalog.delete_package(conn, scope, _id(request, "package_id"), client_ip(request))
        except ValidationError as exc:
            return redirect(request, "/packages/manage", str(exc), "error")
    return redirect(request, "/packages/manage", _("Package deleted."))


@route("POST", "/packages/{package_id:\\d+}/assignments", **EDITING)
async def package_assign(request: web.Request, scope):
    form = await request.post()
    package_id = _id(request, "package_id")
    operator_id = optional_id(form.get("operator_id"))
    async with request.app["pool"].acquire() as conn:
        try:
            await catalog.assign_package(conn, scope, package_id, operator_id, str(form.get("wholesale_price", "")),
                                         str(form.get("retail_price", "")), client_ip(request))
        except ValidationError as exc:
            package = await catalog.get_package(conn, scope, package_id)
            shown = catalog.package_form(package, await catalog.package_tiers(conn, package_id))
            return await _package_page(request, conn, scope, package, shown, {}, 422,
                                       str(exc), assign_form=_form(form), assign_errors=exc.fields)
    return redirect(request, f"/packages/{package_id}/edit#assignments", _("Assignment saved."))


@route("POST", "/packages/{package_id:\\d+}/assignments/{operator_id:\\d+}/delete", **EDITING)
async def package_unassign(request: web.Request, scope):
    package_id = _id(request, "package_id")
    async with request.app["pool"].acquire() as conn:
        try:
            await catalog.unassign_package(conn, scope, package_id, _id(request, "operator_id"), client_ip(request))
        except ValidationError as exc:
            return redirect(request, f"/packages/{package_id}/edit#assignments", str(exc), "error")
    return redirect(request, f"/packages/{package_id}/edit#assignments", _("Assignment removed."))


# ---- billing profiles ----------------------------------------------------------------------------------

@route("GET", "/billing-profiles", **EDITING)
async def billing_profiles_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        rows = await catalog.list_billing_profiles(conn, scope)
    return render(request, "catalog_billing_profiles.html", profiles=rows)


async def _profile_page(request, conn, scope, profile, form, errors, status=200, message=None, assign_errors=None):
    assignments, operators = [], []
    if profile is not None:
        assignments = await catalog.billing_profile_assignments(conn, scope, profile["id"])
        operators = await catalog.assignable_operators(conn, scope, profile["owner_path"])
    return render(request, "catalog_billing_profile_form.html", status=status, profile=profile, form=form,
                  errors=errors, message=message, assignments=assignments, operators=operators,
                  assign_errors=assign_errors or {}, cycle_kinds=catalog.CYCLE_KINDS,
                  billing_types=catalog.BILLING_TYPES)


def _profile_form(profile) -> dict:
    return {key: "" if profile[key] is None else str(profile[key]) for key in catalog.PROFILE_COLUMNS} | {
        "auto_suspend": "1" if profile["auto_suspend"] else ""}


@route("GET", "/billing-profiles/new", **EDITING)
async def billing_profile_new(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        return await _profile_page(request, conn, scope, None,
                                   {"cycle_kind": "fixed_day", "billing_day": "1", "due_days": "7",
                                    "grace_days": "3", "auto_suspend": "1", "billing_type": "prepaid",
                                    "change_billing": "prorate_now"}, {})


@route("POST", "/billing-profiles/new", **EDITING)
async def billing_profile_create(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            profile = await catalog.create_billing_profile(conn, scope, form, client_ip(request))
        except ValidationError as exc:
            return await _profile_page(request, conn, scope, None, _form(form), exc.fields, 422, str(exc))
    return redirect(request, f"/billing-profiles/{profile['id']}/edit",
                    _("Billing profile %(name)s created.", name=profile["name"]))


@route("GET", "/billing-profiles/{profile_id:\\d+}/edit", **EDITING)
async def billing_profile_edit(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        profile = await catalog.get_billing_profile(conn, scope, _id(request, "profile_id"))
        return await _profile_page(request, conn, scope, profile, _profile_form(profile), {})


@route("POST", "/billing-profiles/{profile_id:\\d+}/edit", **EDITING)
async def billing_profile_update(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        profile = await catalog.get_billing_profile(conn, scope, _id(request, "profile_id"))
        try:
            profile = await catalog.update_billing_profile(conn, scope, profile["id"], form, client_ip(request))
        except ValidationError as exc:
            return await _profile_page(request, conn, scope, profile, _form(form), exc.fields, 422, str(exc))
    return redirect(request, f"/billing-profiles/{profile['id']}/edit", _("Billing profile saved."))


@route("POST", "/billing-profiles/{profile_id:\\d+}/status", **EDITING)
async def billing_profile_status(request: web.Request, scope):
    form = await request.post()
    status = str(form.get("status", "") or "")  # the service checks it, after the 404 for a foreign id
    async with request.app["pool"].acquire() as conn:
        await catalog.set_billing_profile_status(conn, scope, _id(request, "profile_id"), status, client_ip(request))
    return redirect(request, "/billing-profiles", _("Billing profile retired: customers keep it, nobody new gets it.")
                    if status == "retired" else _("Billing profile reactivated."))


@route("POST", "/billing-profiles/{profile_id:\\d+}/assignments", **EDITING)
async def billing_profile_assign(request: web.Request, scope):
    form = await request.post()
    profile_id = _id(request, "profile_id")
    operator_id = optional_id(form.get("operator_id"))
    async with request.app["pool"].acquire() as conn:
        try:
            await catalog.assign_billing_profile(conn, scope, profile_id, operator_id, client_ip(request))
        except ValidationError as exc:
            profile = await catalog.get_billing_profile(conn, scope, profile_id)
            return await _profile_page(request, conn, scope, profile, _profile_form(profile), {}, 422, str(exc),
                                       assign_errors=exc.fields)
    return redirect(request, f"/billing-profiles/{profile_id}/edit#assignments", _("Assignment saved."))


@route("POST", "/billing-profiles/{profile_id:\\d+}/assignments/{operator_id:\\d+}/delete", **EDITING)
async def billing_profile_unassign(request: web.Request, scope):
    profile_id = _id(request, "profile_id")
    async with request.app["pool"].acquire() as conn:
        try:
            await catalog.unassign_billing_profile(conn, scope, profile_id, _id(request, "operator_id"),
                                                   client_ip(request))
        except ValidationError as exc:
            return redirect(request, f"/billing-profiles/{profile_id}/edit#assignments", str(exc), "error")
    return redirect(request, f"/billing-profiles/{profile_id}/edit#assignments", _("Assignment removed."))


# ---- zones ---------------------------------------------------------------------------------------------

async def _zones_page(request, conn, scope, status=200, message=None, errors=None, form=None, rename_errors=None):
    return render(request, "catalog_zones.html", status=status, zones=await catalog.list_zones(conn, scope),
                  message=message, errors=errors or {}, form=form or {}, rename_errors=rename_errors or {})


@route("GET", "/zones", **EDITING)
async def zones_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        return await _zones_page(request, conn, scope)


@route("POST", "/zones", **EDITING)
async def zone_create(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            await catalog.create_zone(conn, scope, str(form.get("name", "")), client_ip(request))
        except ValidationError as exc:
            return await _zones_page(request, conn, scope, 422, str(exc), exc.fields, _form(form))
    return redirect(request, "/zones", _("Zone added."))


@route("POST", "/zones/{zone_id:\\d+}/rename", **EDITING)
async def zone_rename(request: web.Request, scope):
    form = await request.post()
    zone_id = _id(request, "zone_id")
    async with request.app["pool"].acquire() as conn:
        try:
            await catalog.rename_zone(conn, scope, zone_id, str(form.get("name", "")), client_ip(request))
        except ValidationError as exc:
            return await _zones_page(request, conn, scope, 422, str(exc),
                                     rename_errors={zone_id: exc.fields.get("name", str(exc))})
    return redirect(request, "/zones", _("Zone renamed."))


@route("POST", "/zones/{zone_id:\\d+}/delete", **EDITING)
async def zone_delete(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        try:
            await catalog.delete_zone(conn, scope, _id(request, "zone_id"), client_ip(request))
        except ValidationError as exc:
            return redirect(request, "/zones", str(exc), "error")
    return redirect(request, "/zones", _("Zone deleted."))
