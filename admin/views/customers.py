"""Customers: list and search, add, profile, edit, status actions, package change, custom price."""

from __future__ import annotations

from aiohttp import web

from admin import confirm
from admin.routing import ALL_ROLES, may, route
from admin.views import fair_usage
from admin.web import client_ip, redirect, render
from radbill.billing.money import parse_amount
from radbill.errors import ValidationError
from radbill.i18n import _, ngettext
from radbill.policy import DISPLAY_STATES
from radbill.services import (
    catalog,
    customer_records,
    customers,
    ip_pools,
    ledger,
    package_change,
    package_change_text,
    troubleshoot,
    wallets,
)
from radbill.validate import optional_id

VIEW, EDIT = "customers.view", "customers.edit"


def _int(value) -> int | None:
    return optional_id(value)


async def _options(conn, scope) -> dict:
    return {"packages": await catalog.packages_for(conn, scope),
            "profiles": await catalog.billing_profiles_for(conn, scope),
            "zones": await catalog.zones_for(conn, scope),
            "ip_pools": await ip_pools.list_pools(conn, scope, readable=True),
            "connection_types": customer_records.CONNECTION_TYPES}


@route("GET", "/customers", roles=ALL_ROLES, permission=VIEW)
async def customer_list(request: web.Request, scope):
    q = request.query
    filters = {"status": q.get("status") or None, "connection_type": q.get("connection_type") or None,
               "package_id": _int(q.get("package_id")), "billing_profile_id": _int(q.get("billing_profile_id")),
               "zone_id": _int(q.get("zone_id")), "online": q.get("online") == "1"}
    page = _int(q.get("page")) or 1
    async with request.app["pool"].acquire() as conn:
        rows, more = await customer_records.search(conn, scope, q.get("q", ""), page=page, **filters)
        options = await _options(conn, scope)
    return render(request, "customers.html", rows=rows, more=more, page=page, q=q.get("q", ""), filters=filters,
                  statuses=DISPLAY_STATES, **options)


@route("GET", "/customers/new", roles=ALL_ROLES, permission=EDIT)
async def customer_new(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        options = await _options(conn, scope)
    return render(request, "customer_form.html", form={"connection_type": "pppoe"}, errors={}, customer=None,
                  **options)


@route("POST", "/customers/new", roles=ALL_ROLES, permission=EDIT)
async def customer_create(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            customer = await customer_records.create_customer(conn, scope, form, client_ip(request))
        except ValidationError as exc:
            options = await _options(conn, scope)
            return render(request, "customer_form.html", status=422, form=dict(form), errors=exc.fields,
                          message=str(exc), customer=None, **options)
    return redirect(request, f"/customers/{customer['id']}",
                    _("Customer %(username)s added: they can log in now (password under Login details).",
                      username=customer["username"]))


@route("GET", "/customers/{customer_id:\\d+}", roles=ALL_ROLES, permission=VIEW)
async def customer_profile(request: web.Request, scope):
    customer_id = int(request.match_info["customer_id"])
    async with request.app["pool"].acquire() as conn:
        data = await customer_records.detail(conn, scope, customer_id)
        balance = await ledger.customer_balance(conn, scope, customer_id)
        entries = await ledger.customer_ledger(conn, scope, customer_id)
        options = await _options(conn, scope)
        trouble = await troubleshoot.panel(conn, scope, customer_id, request.app["config"].acct_interim_interval)
        transfer_wallets = await wallets.wallets_for_customer(conn, data["customer"])
        usage = await fair_usage.customer_usage(conn, scope, data["customer"])
    return render(request, "customer.html", balance=balance, ledger=entries[-50:][::-1], trouble=trouble, **data,
                  **usage,
                  transfer_wallets=transfer_wallets, wallet_kinds=wallets.KINDS,
                  transitions=customers.available_transitions(data["customer"]["status"]), **options)


@route("GET", "/customers/{customer_id:\\d+}/edit", roles=ALL_ROLES, permission=EDIT)
async def customer_edit(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        data = await customer_records.detail(conn, scope, int(request.match_info["customer_id"]))
        options = await _options(conn, scope)
    c = data["customer"]
    return render(request, "customer_form.html", form=customer_records.form_of(c), errors={}, customer=c,
                  **options)


@route("POST", "/customers/{customer_id:\\d+}/edit", roles=ALL_ROLES, permission=EDIT)
async def customer_update(request: web.Request, scope):
    customer_id = int(request.match_info["customer_id"])
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            await customer_records.update_customer(conn, scope, customer_id, form, client_ip(request))
        except ValidationError as exc:
            data = await customer_records.detail(conn, scope, customer_id)
            options = await _options(conn, scope)
            return render(request, "customer_form.html", status=422, form=dict(form), errors=exc.fields,
                          message=str(exc), customer=data["customer"], **options)
    return redirect(request, f"/customers/{customer_id}", _("Customer saved."))


@route("POST", "/customers/{customer_id:\\d+}/status", roles=ALL_ROLES, permission=EDIT)
async def customer_status(request: web.Request, scope):
    customer_id = int(request.match_info["customer_id"])
    back = f"/customers/{customer_id}"
    form = await request.post()
    action, reason = form.get("action"), str(form.get("reason", ""))
    async with request.app["pool"].acquire() as conn:
        await customers.get_customer(conn, scope, customer_id)  # a foreign id is 404 before anything
        try:
            plan = await customers.plan_status_change(conn, scope, customer_id, action, reason)
            if plan.asks_confirmation and not confirm.confirmed(form):
                return _confirm_status(request, plan, form, back)
            await customers.change_status(conn, scope, customer_id, action, reason, ip=client_ip(request))
        except ValidationError as exc:  # the service's rules (a reason, an allowed transition) say what to do
            return redirect(request, back, str(exc), "error")
    done = {"suspend": _("Customer suspended; the live session is being disconnected."),
            "disable": _("Customer disabled; the live session is being disconnected."),
            "activate": _("Customer activated.")}[plan.transition.action]
    return redirect(request, back, done)


def _confirm_status(request: web.Request, plan, form, back: str) -> web.Response:
    """The confirmation page of a status action: what it does to the customer and their open sessions."""
    username, n = plan.customer["username"], plan.open_sessions
    consequences = {
        "disable": [_("%(username)s cannot log in again until someone activates them: paying a bill does not "
                      "undo a disable.", username=username)],
        "suspend": [_("%(username)s is suspended until the bill is paid or someone activates them.",
                      username=username)],
    }.get(plan.transition.action, [])
    if n:
        consequences.append(ngettext("Their %(num)d open session is disconnected now.",
                                     "Their %(num)d open sessions are disconnected now.", n))
    consequences.append(_("Reason kept on the timeline: %(reason)s", reason=plan.reason))
    titles = {"disable": _("Disable %(username)s?", username=username),
              "suspend": _("Suspend %(username)s?", username=username)}
    yes = {"disable": _("Yes, disable"), "suspend": _("Yes, suspend")}
    return confirm.ask(request, title=titles[plan.transition.action], consequences=consequences,
                       action=f"{back}/status", form=form, yes=yes[plan.transition.action], back=back)


@route("GET", "/customers/{customer_id:\\d+}/package", roles=ALL_ROLES, permission=EDIT)
async def package_preview(request: web.Request, scope):
    customer_id = int(request.match_info["customer_id"])
    async with request.app["pool"].acquire() as conn:
        data = await customer_records.detail(conn, scope, customer_id)
        options = await _options(conn, scope)
        chosen = next((p for p in options["packages"] if p["id"] == _int(request.query.get("package_id"))), None)
        plan, problem = None, None
        if chosen is not None:
            try:
                plan = await package_change.preview_change(conn, scope, customer_id, chosen["id"])
            except ValidationError as exc:
                problem = str(exc)
    others = [p for p in options["packages"] if p["id"] != data["customer"]["package_id"]]
    return render(request, "customer_package.html", chosen=chosen, plan=plan, problem=problem,
                  consequences=package_change_text.sentences(plan) if plan else [], others=others,
                  no_other_package=_no_other_package(scope), **data, **options)


def _no_other_package(scope) -> str:
    """What to do when there is no other package to change to: whom to ask depends on who may add or assign one."""
    if scope.role == "sub_operator":
        return _("No other package is assigned to you. Ask your parent operator to assign another package to you, "
                 "then come back to this page.")
    if may(scope, "/packages/new"):
        return _("There is no other active package. Add one under Packages, then come back to this page.")
    return _("There is no other active package. Ask the operator who manages your account to add one, "
             "then come back to this page.")


@route("POST", "/customers/{customer_id:\\d+}/package", roles=ALL_ROLES, permission=EDIT)
async def package_change_post(request: web.Request, scope):
    """Preview → this POST asks for confirmation with the previewed consequences → the confirmed POST applies it,
    refused if the figure is no longer the one shown (package_change.change_package_billed)."""
    customer_id = int(request.match_info["customer_id"])
    form = await request.post()
    back = f"/customers/{customer_id}/package"
    package_id = _int(form.get("package_id")) or 0
    async with request.app["pool"].acquire() as conn:
        await customers.get_customer(conn, scope, customer_id)  # a foreign id is 404 before anything
        try:
            expected = int(str(form.get("expected_minor", "")))
        except ValueError:
            return redirect(request, back, _("Look at the preview first, then confirm the change."), "error")
        try:
            if not confirm.confirmed(form):
                plan = await package_change.preview_change(conn, scope, customer_id, package_id)
                return confirm.ask(request, title=_("Change the package to %(name)s?", name=plan.package["name"]),
                                   consequences=package_change_text.sentences(plan), action=back, form=form,
                                   yes=_("Yes, change the package"), back=f"{back}?package_id={package_id}")
            plan = await package_change.change_package_billed(conn, scope, customer_id, package_id,
                                                              ip=client_ip(request), expected_minor=expected)
        except ValidationError as exc:
            return redirect(request, f"{back}?package_id={package_id}", str(exc), "error")
    if plan.terms.applies == "now":
        message = _("Package changed to %(name)s.", name=plan.package["name"])
    else:
        message = _("Package %(name)s will apply from the next period.", name=plan.package["name"])
    return redirect(request, f"/customers/{customer_id}", message)


@route("POST", "/customers/{customer_id:\\d+}/package/cancel", roles=ALL_ROLES, permission=EDIT)
async def package_change_cancel(request: web.Request, scope):
    """Cancel the change waiting for the next period: a confirmation with its consequences, then
    package_change.cancel_waiting_change (refused if the figure is no longer the one shown)."""
    customer_id = int(request.match_info["customer_id"])
    form = await request.post()
    back = f"/customers/{customer_id}"
    async with request.app["pool"].acquire() as conn:
        await customers.get_customer(conn, scope, customer_id)  # a foreign id is 404 before anything
        try:
            if not confirm.confirmed(form):
                plan = await package_change.preview_cancel(conn, scope, customer_id)
                return confirm.ask(request, title=_("Cancel the change to %(name)s?", name=plan.old_package_name),
                                   consequences=package_change_text.cancel_sentences(plan), action=request.path,
                                   form={"expected_minor": plan.signed_minor}, yes=_("Yes, cancel the change"),
                                   back=back)
            plan = await package_change.cancel_waiting_change(conn, scope, customer_id, ip=client_ip(request),
                                                              expected_minor=int(str(form.get("expected_minor"))))
        except ValueError:
            return redirect(request, back, _("Look at the preview first, then confirm the change."), "error")
        except ValidationError as exc:
            return redirect(request, back, str(exc), "error")
    return redirect(request, back, _("The change to %(name)s is cancelled; %(package)s stays.",
                                     name=plan.old_package_name, package=plan.package["name"]))


@route("POST", "/customers/{customer_id:\\d+}/price", roles=ALL_ROLES, permission=EDIT)
async def custom_price(request: web.Request, scope):
    customer_id = int(request.match_info["customer_id"])
    form = await request.post()
    raw = str(form.get("custom_price", "")).strip()
    async with request.app["pool"].acquire() as conn:
        data = await customer_records.detail(conn, scope, customer_id)
        try:
            price = parse_amount(raw, data["customer"]["currency"]) if raw else None
        except ValidationError as exc:
            return redirect(request, f"/customers/{customer_id}", str(exc), "error")
        await customers.set_custom_price(conn, scope, customer_id, price, ip=client_ip(request))
    return redirect(request, f"/customers/{customer_id}", _("Custom price saved; it applies to future bills."))
