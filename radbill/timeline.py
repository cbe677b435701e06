"""Audit entries as sentences staff read ("Suspended by rina: unpaid November bill"), not JSON.

`describe` is the one place an audit action becomes words; SENTENCES has an entry for every action the code
records (tests/test_timeline.py reads the `audit.record(` calls in the source and fails on a missing one).
Each sentence is a whole template with named blanks, so a translator can reorder it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from radbill.billing.money import format_minor
from radbill.i18n import LazyString, _, lazy_gettext

Sentence = Callable[[dict, str, str], str]  # (detail, actor, currency) -> sentence

# what outbox attempts and their outcomes read as, one whole sentence per job and outcome (a translator reorders
# whole sentences; %(sid)s is the session, %(nas)s the router, %(attempt)s the attempt, %(why)s the error)
OUTBOX_JOBS = ("disconnect", "coa", "sms", "webhook")  # the outbox kinds the timeline has sentences for
OUTBOX_DONE = {"disconnect": lazy_gettext("Router %(nas)s disconnected session %(sid)s."),
               "coa": lazy_gettext("Router %(nas)s changed the speed of session %(sid)s."),
               "sms": lazy_gettext("The SMS was sent."), "webhook": lazy_gettext("The webhook was delivered.")}
OUTBOX_GAVE_UP = {
    "disconnect": lazy_gettext("Could not disconnect session %(sid)s on router %(nas)s after %(attempt)s attempts "
                               "(%(why)s); radbill stopped trying."),
    "coa": lazy_gettext("Could not change the speed of session %(sid)s on router %(nas)s after %(attempt)s attempts "
                        "(%(why)s); radbill stopped trying."),
    "sms": lazy_gettext("Could not send the SMS after %(attempt)s attempts (%(why)s); radbill stopped trying."),
    "webhook": lazy_gettext("Could not deliver the webhook after %(attempt)s attempts (%(why)s); radbill stopped "
                            "trying."),
    None: lazy_gettext("Could not deliver the message after %(attempt)s attempts (%(why)s); radbill stopped trying."),
}
OUTBOX_RETRY = {
    "disconnect": lazy_gettext("Could not disconnect session %(sid)s on router %(nas)s on attempt %(attempt)s "
                               "(%(why)s); radbill will try again."),
    "coa": lazy_gettext("Could not change the speed of session %(sid)s on router %(nas)s on attempt %(attempt)s "
                        "(%(why)s); radbill will try again."),
    "sms": lazy_gettext("Could not send the SMS on attempt %(attempt)s (%(why)s); radbill will try again."),
    "webhook": lazy_gettext("Could not deliver the webhook on attempt %(attempt)s (%(why)s); radbill will try "
                            "again."),
    None: lazy_gettext("Could not deliver the message on attempt %(attempt)s (%(why)s); radbill will try again."),
}


def _who(actor: str | None) -> str:
    return actor or _("radbill (automatic)")


def _pair(value) -> tuple:
    """An 'edit' change is [old, new]; anything else is only the new value."""
    if isinstance(value, list) and len(value) == 2:
        return value[0], value[1]
    return None, value


def _shown(value) -> str:
    return _("(empty)") if value in (None, "", []) else str(value)


def _changes(detail: dict) -> str:
    parts = []
    for field, value in detail.items():
        old, new = _pair(value)
        parts.append(_("%(field)s from %(old)s to %(new)s", field=field.replace("_", " "), old=_shown(old),
                       new=_shown(new)))
    return "; ".join(parts) or _("nothing changed")


def _status(with_reason: LazyString, without: LazyString) -> Sentence:
    def sentence(d: dict, actor: str, currency: str) -> str:
        reason = d.get("reason")
        return str(with_reason) % {"actor": actor, "reason": reason} if reason else str(without) % {"actor": actor}
    return sentence


def _price(d: dict, actor: str, currency: str) -> str:
    new = _pair(d.get("custom_price_minor"))[1]
    if new is None:
        return _("Custom price removed by %(actor)s: the package price applies again.", actor=actor)
    return _("Custom price set to %(price)s by %(actor)s.", price=format_minor(int(new), currency), actor=actor)


def _create(d: dict, actor: str, currency: str) -> str:
    if d.get("import_batch"):
        return _("Imported by %(actor)s from import %(batch)s with username %(username)s.", actor=actor,
                 batch=d["import_batch"], username=_shown(d.get("username")))
    if d.get("username"):
        return _("Created by %(actor)s with username %(username)s.", actor=actor, username=d["username"])
    return _("Created by %(actor)s: %(name)s.", actor=actor, name=_shown(d.get("name")))


def _delete(d: dict, actor: str, currency: str) -> str:
    if d.get("rollback"):
        return _("Removed by %(actor)s when import %(batch)s was rolled back.", actor=actor,
                 batch=_shown(d.get("import_batch")))
    return _("Deleted by %(actor)s.", actor=actor)


def _outbox(kind: str) -> Sentence:
    def sentence(d: dict, actor: str, currency: str) -> str:
        # a rate CoA to a router type that cannot change a live rate goes as a Disconnect (policy/vendors.py)
        job = d.get("sent") if d.get("sent") in OUTBOX_JOBS else kind
        names = {"sid": _shown(d.get("acct_session_id")), "nas": _shown(d.get("nas_ip"))}
        outcome = d.get("outcome")
        if outcome == "ack":
            done = OUTBOX_DONE.get(job)
            return str(done) % names if done is not None else _("Delivered.")
        if outcome == "gone":
            return _("Router %(nas)s no longer had session %(sid)s: nothing left to disconnect.", **names)
        why = d.get("error") or outcome or _("no answer")
        table = OUTBOX_GAVE_UP if d.get("gave_up") else OUTBOX_RETRY
        return str(table.get(job, table[None])) % {**names, "attempt": _shown(d.get("attempt")), "why": why}
    return sentence


def _reversal(d: dict, actor: str, currency: str) -> str:
    text = _("%(amount)s of payment #%(payment)s reversed by %(actor)s: %(reason)s.",
             amount=format_minor(int(d.get("amount_minor") or 0), currency), payment=_shown(d.get("payment_id")),
             actor=actor, reason=_shown(d.get("reason")))
    if d.get("unpaid_bills"):
        text += " " + _("Unpaid again: bill %(bills)s.", bills=", ".join(f"#{b}" for b in d["unpaid_bills"]))
    return text


def _void(d: dict, actor: str, currency: str) -> str:
    text = _("Bill #%(bill)s voided by %(actor)s: %(reason)s.", bill=_shown(d.get("bill_id")), actor=actor,
             reason=_shown(d.get("reason")))
    moved = int(d.get("moved_to_advance_minor") or 0)
    if moved:
        text += " " + _("%(amount)s paid on it moved to advance credit.", amount=format_minor(moved, currency))
    return text


def _with(template: LazyString, *keys: str) -> Sentence:
    """A fixed sentence with %(actor)s and detail values (shown as "(empty)" when missing)."""
    def sentence(d: dict, actor: str, currency: str) -> str:
        return str(template) % {"actor": actor, **{k: _shown(d.get(k)) for k in keys}}
    return sentence


def _package_cancelled(d: dict, actor: str, currency: str) -> str:
    """A waiting change cancelled, and the money scheduling it had moved, given or taken back."""
    text = _("The package change to %(package)s waiting for the next period was cancelled by %(actor)s.",
             package=_shown(d.get("package")), actor=actor)
    if d.get("credit_minor"):
        return text + " " + _("%(amount)s given back.", amount=format_minor(int(d["credit_minor"]), currency))
    if d.get("charge_minor"):
        return text + " " + _("%(amount)s charged back (bill #%(bill)s).",
                              amount=format_minor(int(d["charge_minor"]), currency), bill=_shown(d.get("bill_id")))
    return text


def _package_billed(d: dict, actor: str, currency: str) -> str:
    """The money side of a package change (customers.change_package's own entry says the switch itself)."""
    names = {"actor": actor, "package": _shown(d.get("package"))}
    if d.get("applies") == "next_period":
        names["day"] = str(d.get("applies_at") or "")[:10]
        text = _("Package change to %(package)s by %(actor)s, from the next period (%(day)s).", **names)
    else:
        text = _("Package change to %(package)s billed by %(actor)s.", **names)
    if d.get("charge_minor"):
        return text + " " + _("Charged %(amount)s for %(days)s days (bill #%(bill)s).",
                              amount=format_minor(int(d["charge_minor"]), currency), days=_shown(d.get("days")),
                              bill=_shown(d.get("bill_id")))
    if d.get("credit_minor"):
        return text + " " + _("Credited %(amount)s to the advance for %(days)s days.",
                              amount=format_minor(int(d["credit_minor"]), currency), days=_shown(d.get("days")))
    return text + " " + _("No money moved.")


def _ticket(template: LazyString, d: dict, actor: str) -> str:
    """`template` has %(who)s, %(subject)s and %(assignee)s ("by" is "customer" when the customer acted in the
    portal)."""
    who = _("the customer") if d.get("by") == "customer" else actor
    assignee = _pair(d.get("assigned_to"))[1]
    return str(template) % {"who": who, "subject": _shown(d.get("subject")),
                            "assignee": assignee if assignee else _("nobody")}


def _payment(d: dict, actor: str, currency: str) -> str:
    # the cash path also records verified mobile-wallet transfers (radbill.services.transfers)
    if d.get("method") == "mobile_wallet":
        return _("Mobile-wallet payment recorded by %(actor)s.", actor=actor)
    return _("Cash payment recorded by %(actor)s.", actor=actor)


def _edit(template: LazyString) -> Sentence:
    """`template` has %(actor)s and %(changes)s ("field from old to new; ...")."""
    return lambda d, actor, currency: str(template) % {"actor": actor, "changes": _changes(d)}


SENTENCES: dict[str, Sentence] = {
    # customers
    "create": _create,
    "edit": _edit(lazy_gettext("Details edited by %(actor)s: %(changes)s.")),
    "delete": _delete,
    "customer.suspend": _status(lazy_gettext("Suspended by %(actor)s: %(reason)s."),
                                lazy_gettext("Suspended by %(actor)s.")),
    "customer.disable": _status(lazy_gettext("Disabled by %(actor)s: %(reason)s."),
                                lazy_gettext("Disabled by %(actor)s.")),
    "customer.activate": _status(lazy_gettext("Reactivated by %(actor)s: %(reason)s."),
                                 lazy_gettext("Reactivated by %(actor)s.")),
    "customer.change_package": _with(lazy_gettext("Package changed to %(package)s by %(actor)s."), "package"),
    "customer.package_change_billed": _package_billed,
    "customer.package_change_cancelled": _package_cancelled,
    "customer.set_custom_price": _price,
    "customer.disconnect": _with(lazy_gettext("Disconnect of session %(acct_session_id)s on router %(nas_ip)s requested by %(actor)s."),
                                 "acct_session_id", "nas_ip"),
    "outbox.disconnect": _outbox("disconnect"),
    "outbox.coa": _outbox("coa"),
    "outbox.sms": _outbox("sms"),
    "outbox.webhook": _outbox("webhook"),
    "alert": lambda d, actor, currency: _("Alert: %(text)s",
                                          text=d.get("message") or d.get("alert") or _("see the alerts page")),
    "alert.acknowledge": _with(lazy_gettext("Alert acknowledged by %(actor)s: %(message)s"), "message"),
    # imports
    "import": _with(lazy_gettext("Customers imported by %(actor)s."),),
    "rollback": _with(lazy_gettext("Import rolled back by %(actor)s: %(removed)s customers removed."), "removed"),
    # logins and accounts
    "login": _with(lazy_gettext("Signed in: %(username)s."), "username"),
    "login_failed": _with(lazy_gettext("Failed sign-in for %(username)s."), "username"),
    "login_throttled": _with(lazy_gettext("Too many failed sign-ins for %(username)s: sign-in paused for a while."), "username"),
    "logout": _with(lazy_gettext("%(actor)s signed out.")),
    "totp_ok": _with(lazy_gettext("%(actor)s passed the two-step check.")),
    "totp_failed": _with(lazy_gettext("%(actor)s entered a wrong two-step code.")),
    "totp_enabled": _with(lazy_gettext("%(actor)s turned on two-step sign-in.")),
    "totp_disabled": _with(lazy_gettext("%(actor)s turned off two-step sign-in.")),
    "password_changed": _with(lazy_gettext("%(actor)s changed their password.")),
    "password_reset": _with(lazy_gettext("Password of %(username)s reset by %(actor)s."), "username"),
    "account_active": _with(lazy_gettext("Login %(username)s enabled by %(actor)s."), "username"),
    "account_disabled": _with(lazy_gettext("Login %(username)s disabled by %(actor)s."), "username"),
    "permission_denied": _with(lazy_gettext("%(actor)s was refused a page they may not use."),),
    "api_client.create": _with(lazy_gettext("API client %(name)s created by %(actor)s."), "name"),
    "api_client.revoke": _with(lazy_gettext("API client %(name)s revoked by %(actor)s."), "name"),
    # routers
    "router.create": _with(lazy_gettext("Router %(name)s added by %(actor)s."), "name"),
    "router.edit": _edit(lazy_gettext("Router edited by %(actor)s: %(changes)s.")),
    "router.new_secret": _with(lazy_gettext("New shared secret for the router made by %(actor)s.")),
    "router.disable": _with(lazy_gettext("Router disabled by %(actor)s.")),
    "router.enable": _with(lazy_gettext("Router enabled by %(actor)s.")),
    "router.delete": _with(lazy_gettext("Router %(name)s deleted by %(actor)s."), "name"),
    "router.import_grant": _with(lazy_gettext("%(actor)s let login %(username)s import PPP secrets from router "
                                              "%(router)s."), "username", "router"),
    "router.import_revoke": _with(lazy_gettext("%(actor)s stopped login %(username)s importing PPP secrets from "
                                               "router %(router)s."), "username", "router"),
    "ip_pool.create": _with(lazy_gettext("IP pool %(name)s added by %(actor)s."), "name"),
    "ip_pool.edit": _edit(lazy_gettext("IP pool edited by %(actor)s: %(changes)s.")),
    "ip_pool.delete": _with(lazy_gettext("IP pool %(name)s deleted by %(actor)s."), "name"),
    "vat_profile.create": _with(lazy_gettext("VAT profile %(name)s added by %(actor)s."), "name"),
    "vat_profile.edit": _edit(lazy_gettext("VAT profile edited by %(actor)s: %(changes)s.")),
    # catalogue
    "package.create": _with(lazy_gettext("Package %(name)s created by %(actor)s."), "name"),
    "package.edit": _edit(lazy_gettext("Package edited by %(actor)s: %(changes)s.")),
    "package.retire": _with(lazy_gettext("Package retired by %(actor)s: no new sales.")),
    "package.reactivate": _with(lazy_gettext("Package made available again by %(actor)s.")),
    "package.delete": _with(lazy_gettext("Package %(name)s deleted by %(actor)s."), "name"),
    "package.assign": _edit(lazy_gettext("Package offer edited by %(actor)s: %(changes)s.")),
    "package.unassign": _with(lazy_gettext("Package withdrawn from an operator by %(actor)s.")),
    "billing_profile.create": _with(lazy_gettext("Billing profile %(name)s created by %(actor)s."), "name"),
    "billing_profile.edit": _edit(lazy_gettext("Billing profile edited by %(actor)s: %(changes)s.")),
    "billing_profile.retire": _with(lazy_gettext("Billing profile retired by %(actor)s.")),
    "billing_profile.reactivate": _with(lazy_gettext("Billing profile made available again by %(actor)s.")),
    "billing_profile.assign": _with(lazy_gettext("Billing profile offered to an operator by %(actor)s.")),
    "billing_profile.unassign": _with(lazy_gettext("Billing profile withdrawn from an operator by %(actor)s.")),
    "zone.create": _with(lazy_gettext("Zone %(name)s created by %(actor)s."), "name"),
    "zone.rename": _edit(lazy_gettext("Zone edited by %(actor)s: %(changes)s.")),
    "zone.delete": _with(lazy_gettext("Zone %(name)s deleted by %(actor)s."), "name"),
    # money and messages
    "payment.cash": _payment,
    "payment.online": _with(lazy_gettext("Online payment received through a payment gateway.")),
    "payment.refund": _with(lazy_gettext("Online payment refunded by %(actor)s.")),
    "payment_gateway.create": _with(lazy_gettext("Payment gateway %(label)s added by %(actor)s."), "label"),
    "payment_gateway.edit": _edit(lazy_gettext("Payment gateway edited by %(actor)s: %(changes)s.")),
    "wallet.create": _with(lazy_gettext("Wallet number %(number)s added by %(actor)s."), "number"),
    "wallet.edit": _edit(lazy_gettext("Wallet edited by %(actor)s: %(changes)s.")),
    "transfer.submit": _with(lazy_gettext("Mobile-wallet transfer %(trxid)s reported by %(actor)s, waiting to be "
                                          "checked."), "trxid"),
    "transfer.confirm": _with(lazy_gettext("Mobile-wallet transfer %(trxid)s confirmed by %(actor)s: payment "
                                           "recorded."), "trxid"),
    "transfer.reject": _with(lazy_gettext("Mobile-wallet transfer %(trxid)s rejected by %(actor)s: %(reason)s."),
                             "trxid", "reason"),
    "payment.advance": _with(lazy_gettext("Advance payment recorded by %(actor)s.")),
    "payment.reverse": _reversal,
    "bill.void": _void,
    "cash_close": lambda d, actor, currency: _("Cash of %(day)s closed by %(actor)s.", day=_shown(d.get("day")),
                                               actor=actor),
    "customer.data_topup": _with(lazy_gettext("Data top-up %(pack)s bought by %(actor)s, paid from the advance "
                                              "balance."), "pack"),
    "topup_pack.create": _with(lazy_gettext("Data top-up pack %(name)s created by %(actor)s."), "name"),
    "topup_pack.offer": _with(lazy_gettext("Data top-up pack offered again by %(actor)s.")),
    "topup_pack.retire": _with(lazy_gettext("Data top-up pack retired by %(actor)s: no new sales.")),
    "reseller.top_up": _with(lazy_gettext("Reseller balance topped up by %(actor)s.")),
    "reseller.credit_limit": _edit(lazy_gettext("Reseller credit limit edited by %(actor)s: %(changes)s.")),
    "sms.gateway.save": _with(lazy_gettext("SMS gateway settings saved by %(actor)s.")),
    "sms.template.save": _with(lazy_gettext("SMS template saved by %(actor)s.")),
    "sms.settings.save": _with(lazy_gettext("SMS settings saved by %(actor)s.")),
    "sms.broadcast": _with(lazy_gettext("SMS broadcast sent by %(actor)s.")),
    "sms.topup": _with(lazy_gettext("SMS credit topped up by %(actor)s.")),
    "whatsapp.settings.save": _with(lazy_gettext("WhatsApp settings saved by %(actor)s.")),
    "whatsapp.test": _with(lazy_gettext("WhatsApp test message sent by %(actor)s.")),
    "walled_garden.save": _edit(lazy_gettext("Walled garden edited by %(actor)s: %(changes)s.")),
    # webhook endpoints (radbill/services/webhook_endpoints.py)
    "webhook.create": _with(lazy_gettext("Webhook endpoint %(url)s added by %(actor)s."), "url"),
    "webhook.edit": _edit(lazy_gettext("Webhook endpoint edited by %(actor)s: %(changes)s.")),
    "webhook.rotate": _with(lazy_gettext("Webhook secret replaced by %(actor)s.")),
    "webhook.enable": _with(lazy_gettext("Webhook endpoint %(url)s enabled by %(actor)s."), "url"),
    "webhook.disable": _with(lazy_gettext("Webhook endpoint %(url)s disabled by %(actor)s."), "url"),
    "webhook.test": _with(lazy_gettext("Test webhook sent by %(actor)s.")),
    "webhook.redeliver": _with(lazy_gettext("Webhook %(event_id)s sent again by %(actor)s."), "event_id"),
    # support tickets
    "ticket.open": lambda d, actor, currency: _ticket(lazy_gettext("Ticket opened by %(who)s: %(subject)s."), d, actor),
    "ticket.reply": lambda d, actor, currency: _ticket(lazy_gettext("Reply on the ticket by %(who)s."), d, actor),
    "ticket.assign": lambda d, actor, currency: _ticket(lazy_gettext("Ticket assigned to %(assignee)s by %(who)s."),
                                                        d, actor),
    "ticket.close": lambda d, actor, currency: _ticket(lazy_gettext("Ticket closed by %(who)s."), d, actor),
    "ticket.reopen": lambda d, actor, currency: _ticket(lazy_gettext("Ticket reopened by %(who)s."), d, actor),
}


def describe(action: str, detail: dict | None, actor: str | None, currency: str = "BDT") -> str:
    """The sentence for one audit entry; an action without one (or an odd detail) still reads as words."""
    detail = detail if isinstance(detail, dict) else {}
    sentence = SENTENCES.get(action)
    if sentence is not None:
        try:
            return sentence(detail, _who(actor), currency)
        except (KeyError, TypeError, ValueError):  # an older entry with another shape: say what we know
            pass
    facts = "; ".join(f"{k.replace('_', ' ')}: {_shown(v)}" for k, v in detail.items() if not isinstance(v, dict))
    what = action.replace("_", " ").replace(".", " ").capitalize()  # an action code: no sentence to translate
    if facts:
        return _("%(what)s by %(actor)s (%(facts)s).", what=what, actor=_who(actor), facts=facts)
    return _("%(what)s by %(actor)s.", what=what, actor=_who(actor))


def sentences(entries: Iterable[dict], timezone: str, currency: str = "BDT") -> list[dict]:
    """Timeline rows (at, action, detail, actor), newest first, each with `sentence`; a change that queued router
    jobs (outbox_ids) also tells what the router then did, e.g. "Suspended by rina: unpaid November bill —
    Router 10.0.0.1 disconnected session s1 at 20:54:17." (the attempt keeps its own row as well)."""
    entries = [dict(e) for e in entries]
    for e in entries:  # jsonb arrives as text from asyncpg
        e["detail"] = json.loads(e["detail"]) if isinstance(e["detail"], str) else (e["detail"] or {})
    results: dict[int, dict] = {}
    for e in reversed(entries):  # oldest first, so the latest attempt of a job wins
        if str(e["action"]).startswith("outbox.") and isinstance(e["detail"], dict) and e["detail"].get("outbox_id"):
            results[e["detail"]["outbox_id"]] = e
    for e in entries:
        text = describe(e["action"], e["detail"], e.get("actor"), currency)
        ids = e["detail"].get("outbox_ids") if isinstance(e["detail"], dict) else None
        for outbox_id in ids or []:
            if outbox_id in results:
                result = results[outbox_id]
                at = _clock(result["at"], timezone)
                # a sentence ends in "." (English) or "।" (Bangla, the dari): joined, only the last one stays
                then = describe(result["action"], result["detail"], None, currency).rstrip(".।")
                text = _("%(sentence)s — %(then)s at %(time)s.", sentence=text.rstrip(".।"), then=then, time=at)
        e["sentence"] = text
    return entries


def _clock(moment: datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%H:%M:%S")
