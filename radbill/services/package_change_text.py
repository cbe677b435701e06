"""A package change plan in words: the one description the admin's preview, its confirmation page and the
portal's preview all show (so staff and the customer read the same figures)."""

from __future__ import annotations

from radbill import localize
from radbill.i18n import _
from radbill.services.package_change import ChangePlan

_ROUTER = {
    "coa": lambda: _("The live session gets the new speed at once (CoA to the router)."),
    "disconnect": lambda: _("The live session is disconnected so that it reconnects at the new speed."),
    "next_login": lambda: _("There is no live session: the new speed applies at the next login."),
    "none": lambda: _("The customer is not active: the new speed applies when service resumes."),
    "later": lambda: _("The speed stays as it is until the new package starts."),
}


def sentences(plan: ChangePlan, *, for_customer: bool = False) -> list[str]:
    """What the change does, in order: the price, when it applies, the money now, the expiry, the router."""
    c, cur = plan.customer, plan.customer["currency"]
    tz = c["timezone"]
    out = [_("New package %(package)s at %(price)s a period (now %(old_package)s at %(old_price)s).",
             package=plan.package["name"], price=localize.money(plan.new_price_minor, cur),
             old_package=plan.old_package_name, old_price=localize.money(plan.old_price_minor, cur))]
    if plan.custom_price:
        out.append(_("A custom price of %(price)s applies to this customer whatever the package.",
                     price=localize.money(c["custom_price_minor"], cur)))
    if plan.terms.applies == "now":
        out.append(_("It applies now."))
    else:
        out.append(_("It applies from the next period, on %(day)s; until then the current package stays.",
                     day=localize.long_date(plan.applies_at, tz)))
    days = plan.terms.days
    if plan.charge_minor:
        out.append(_("Charged now: %(amount)s (the difference for %(days)s days), as a new bill; advance credit "
                     "pays it at once if there is enough.", amount=localize.money(plan.charge_minor, cur), days=days))
    elif plan.credit_minor:
        out.append(_("Credited now: %(amount)s (the difference for %(days)s days). It pays unpaid package change "
                     "bills first; the rest goes to the advance balance for the next bill.",
                     amount=localize.money(plan.credit_minor, cur), days=days))
    else:
        out.append(_("Nothing is charged or credited now."))
    if c["expires_at"] is not None:
        out.append(_("The service still runs to %(day)s.", day=localize.localtime(c["expires_at"], tz)))
    if not for_customer and plan.terms.wholesale_delta_minor:
        out.append(_("The sub-operator's balance moves by the wholesale difference: %(amount)s.",
                     amount=localize.money(-plan.terms.wholesale_delta_minor, cur)))
    out.append(str(_ROUTER[plan.router]()))
    return out


def cancel_sentences(plan: ChangePlan) -> list[str]:
    """What cancelling a waiting change does (`plan` from package_change.preview_cancel: from the waiting package
    back to the current one): the package kept, and the money scheduling it moved, given or taken back."""
    c, cur = plan.customer, plan.customer["currency"]
    out = [_("The change to %(waiting)s waiting for %(day)s is cancelled: %(package)s stays.",
             waiting=plan.old_package_name, day=localize.long_date(c["next_package_at"], c["timezone"]),
             package=plan.package["name"])]
    if plan.credit_minor:
        out.append(_("What scheduling it charged, %(amount)s, is given back: its bill is voided if it is not paid, "
                     "else the amount goes to the advance balance.", amount=localize.money(plan.credit_minor, cur)))
    elif plan.charge_minor:
        out.append(_("What scheduling it credited, %(amount)s, is charged back as a new bill; advance credit pays it "
                     "at once if there is enough.", amount=localize.money(plan.charge_minor, cur)))
    else:
        out.append(_("Nothing is charged or credited now."))
    out.append(_("The speed stays as it is."))
    return out
