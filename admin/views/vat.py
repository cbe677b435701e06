"""VAT profiles: list, add, edit, and the operator's own profile (thin: services.vat)."""

from __future__ import annotations

from aiohttp import web

from admin.routing import OPERATORS, route
from admin.web import client_ip, redirect, render
from radbill.errors import ValidationError
from radbill.i18n import _, lazy_gettext
from radbill.services import vat
from radbill.validate import optional_id

VAT = {"roles": OPERATORS, "permission": "packages.manage", "section": lazy_gettext("VAT")}


def _form_of(profile) -> dict:
    return {"name": profile["name"], "rate": format(profile["rate_basis_points"] / 100, "g"),
            "price_includes_vat": "yes" if profile["price_includes_vat"] else "no",
            "registration_number": profile["registration_number"] or "",
            "active": "yes" if profile["active"] else "no"}


def _form_page(request, profile, form, errors, status=200, message=None):
    return render(request, "vat_form.html", status=status, profile=profile, form=form, errors=errors,
                  message=message)


@route("GET", "/vat", **VAT)
async def vat_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        profiles = await vat.list_profiles(conn, scope)
    return render(request, "vat.html", profiles=profiles)


@route("GET", "/vat/new", **VAT)
async def vat_new(request: web.Request, scope):
    return _form_page(request, None, {"price_includes_vat": "no", "active": "yes"}, {})


@route("POST", "/vat/new", **VAT)
async def vat_create(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            await vat.create_profile(conn, scope, form, client_ip(request))
        except ValidationError as exc:
            return _form_page(request, None, dict(form), exc.fields, 422, str(exc))
    return redirect(request, "/vat", _("VAT profile saved. Attach it to your ISP or to packages to use it."))


@route("GET", "/vat/{vat_profile_id:\\d+}/edit", **VAT)
async def vat_edit(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        profile = await vat.get_profile(conn, scope, int(request.match_info["vat_profile_id"]))
    return _form_page(request, profile, _form_of(profile), {})


@route("POST", "/vat/{vat_profile_id:\\d+}/edit", **VAT)
async def vat_update(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        profile = await vat.get_profile(conn, scope, int(request.match_info["vat_profile_id"]))
        try:
            await vat.update_profile(conn, scope, profile["id"], form, client_ip(request))
        except ValidationError as exc:
            return _form_page(request, profile, dict(form), exc.fields, 422, str(exc))
    return redirect(request, "/vat", _("VAT profile saved. Bills issued from now on use it; issued bills keep "
                                       "their amounts."))


@route("POST", "/vat/operator", **VAT)
async def vat_for_operator(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            await vat.attach_to_operator(conn, scope, optional_id(str(form.get("vat_profile_id") or "")),
                                         client_ip(request))
        except ValidationError as exc:
            return redirect(request, "/isp", str(exc), "error")
    return redirect(request, "/isp", _("VAT profile of your ISP saved: bills issued from now on use it, unless "
                                       "the package names its own."))
