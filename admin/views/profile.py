"""My profile (name, contact, password, two-factor login) and the ISP information."""

from __future__ import annotations

import segno
from aiohttp import web

from admin.routing import ALL_ROLES, route
from admin.web import client_ip, redirect, render
from radbill import totp
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.services import auth, profile, vat

ISP_ROLES = frozenset({"group_admin", "operator", "sub_operator"})


async def _account(request):
    async with request.app["pool"].acquire() as conn:
        return await profile.own_account(conn, request["session"].account_id)


@route("GET", "/profile", roles=ALL_ROLES)
async def profile_page(request: web.Request, scope):
    account = await _account(request)
    return render(request, "profile.html", account=account, form=dict(account), errors={})


@route("POST", "/profile", roles=ALL_ROLES)
async def profile_submit(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            await profile.update_own_profile(conn, scope, str(form.get("full_name", "")), str(form.get("email", "")),
                                             str(form.get("phone", "")), client_ip(request))
        except ValidationError as exc:
            return render(request, "profile.html", status=422, account=await _account(request), form=dict(form),
                          errors=exc.fields, message=str(exc))
    return redirect(request, "/profile", _("Your profile was saved."))


@route("GET", "/profile/2fa", roles=ALL_ROLES)
async def totp_setup_page(request: web.Request, scope):
    session = request["session"]
    async with request.app["pool"].acquire() as conn:
        secret = None if session.totp_enabled else await auth.pending_totp_secret(conn, session)
    qr = None
    if secret:
        uri = totp.provisioning_uri(secret, session.username)
        qr = segno.make(uri, error="m").svg_data_uri(scale=4)
    return render(request, "totp_setup.html", secret=secret, qr=qr, errors={})


@route("POST", "/profile/2fa/start", roles=ALL_ROLES)
async def totp_start(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        await auth.start_totp_enrolment(conn, request["session"])
    return redirect(request, "/profile/2fa")


@route("POST", "/profile/2fa/confirm", roles=ALL_ROLES)
async def totp_confirm(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            await auth.confirm_totp_enrolment(conn, request["session"], str(form.get("code", "")), client_ip(request))
        except ValidationError as exc:
            secret = await auth.pending_totp_secret(conn, request["session"])
            qr = segno.make(totp.provisioning_uri(secret, request["session"].username), error="m").svg_data_uri(
                scale=4) if secret else None
            return render(request, "totp_setup.html", status=422, secret=secret, qr=qr, errors=exc.fields,
                          message=str(exc))
    return redirect(request, "/profile", _("Two-factor login is on. You will be asked for a code at every login."))


@route("POST", "/profile/2fa/disable", roles=ALL_ROLES)
async def totp_disable(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            await auth.disable_totp(conn, request["session"], str(form.get("password", "")), client_ip(request))
        except ValidationError as exc:
            return redirect(request, "/profile/2fa", exc.fields.get("password", str(exc)), "error")
    return redirect(request, "/profile", _("Two-factor login is off."))


@route("GET", "/isp", roles=ISP_ROLES)
async def isp_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        info = await profile.isp_info(conn, scope)
        profiles = await vat.list_profiles(conn, scope, readable=True)
    return render(request, "isp.html", info=info, form=dict(info), errors={}, vat_profiles=profiles)


@route("POST", "/isp", roles=ISP_ROLES)
async def isp_submit(request: web.Request, scope):
    form = await request.post()
    upload = form.get("logo")
    data = upload.file.read(profile.LOGO_MAX_BYTES + 1) if getattr(upload, "file", None) else None
    async with request.app["pool"].acquire() as conn:
        try:
            await profile.update_isp_info(conn, scope, str(form.get("business_name", "")),
                                          str(form.get("address", "")), str(form.get("phone", "")),
                                          str(form.get("email", "")), data or None, form.get("remove_logo") == "1",
                                          client_ip(request))
        except ValidationError as exc:
            info = await profile.isp_info(conn, scope)
            return render(request, "isp.html", status=422, info=info, form=dict(form), errors=exc.fields,
                          message=str(exc), vat_profiles=await vat.list_profiles(conn, scope, readable=True))
    return redirect(request, "/isp", _("ISP information saved. Receipts and invoices will show it."))


@route("POST", "/isp/portal-package-change", roles=ISP_ROLES)
async def isp_portal_package_change(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            await profile.set_portal_package_change(conn, scope, str(form.get("portal_package_change", "")),
                                                    client_ip(request))
        except ValidationError as exc:
            return redirect(request, "/isp", str(exc), "error")
    return redirect(request, "/isp", _("Saved: customers see the new choice in the portal."))


@route("GET", "/isp/logo/{operator_id:\\d+}", roles=ALL_ROLES)
async def isp_logo(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        data, content_type = await profile.logo(conn, scope, int(request.match_info["operator_id"]))
    return web.Response(body=data, content_type=content_type, headers={"Cache-Control": "private, max-age=300"})
