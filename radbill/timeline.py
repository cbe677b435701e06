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
from radbill.i18n import _

Sentence = Callable[[dict, str, str], str]  # (detail, actor, currency) -> sentence

# what outbox attempts and their outcomes read as; "{what}" is the job, e.g. "disconnect session X on router Y"
OUTBOX_JOBS = {"disconnect": "disconnect session {sid} on router {nas}",
               "coa": "change the speed of session {sid} on router {nas}",
               "sms": "send the SMS", "webhook": "deliver the webhook"}
OUTBOX_DONE = {"disconnect": "Router {nas} disconnected session {sid}.",
               "coa": "Router {nas} changed the speed of session {sid}.",
               "sms": "The SMS was sent.", "webhook": "The webhook was delivered."}


def _who(actor: str | None) -> str:
    return actor or "radbill (automatic)"


def _pair(value) -> tuple:
    """An 'edit' change is [old, new]; anything else is only the new value."""
    if isinstance(value, list) and len(value) == 2:
        return value[0], value[1]
    return None, value


def _shown(value) -> str:
    return "(empty)" if value in (None, "", []) else str(value)


def _changes(detail: dict) -> str:
    parts = []
    for field, value in detail.items():
        old, new = _pair(value)
        parts.append(f"{field.replace('_', ' ')} from {_shown(old)} to {_shown(new)}")
    return "; ".join(parts) or "nothing changed"


def _status(verb: str) -> Sentence:
    def sentence(d: dict, actor: str, currency: str) -> str:
        reason = d.get("reason")
        return f"{verb} by {actor}: {reason}." if reason else f"{verb} by {actor}."
    return sentence


def _price(d: dict, actor: str, currency: str) -> str:
    new = _pair(d.get("custom_price_minor"))[1]
    if new is None:
        return f"Custom price removed by {actor}: the package price applies again."
    return f"Custom price set to {format_minor(int(new), currency)} by {actor}."


def _create(d: dict, actor: str, currency: str) -> str:
    if d.get("import_batch"):
        return f"Imported by {actor} from import {d['import_batch']} with username {_shown(d.get('username'))}."
    if d.get("username"):
        return f"Created by {actor} with username {d['username']}."
    return f"Created by {actor}: {_shown(d.get('name'))}."


def _delete(d: dict, actor: str, currency: str) -> str:
    if d.get("rollback"):
        return f"Removed by {actor} when import {_shown(d.get('import_batch'))} was rolled back."
    return f"Deleted by {actor}."


def _outbox(kind: str) -> Sentence:
    def sentence(d: dict, actor: str, currency: str) -> str:
        names = {"sid": _shown(d.get("acct_session_id")), "nas": _shown(d.get("nas_ip"))}
        outcome = d.get("outcome")
        if outcome == "ack":
            return OUTBOX_DONE.get(kind, "Delivered.").format(**names)
        if outcome == "gone":
            return "Router {nas} no longer had session {sid}: nothing left to disconnect.".format(**names)
        job = OUTBOX_JOBS.get(kind, "deliver the message").format(**names)
        why = d.get("error") or outcome or "no answer"
        if d.get("gave_up"):
            return f"Could not {job} after {_shown(d.get('attempt'))} attempts ({why}); radbill stopped trying."
        return f"Could not {job} on attempt {_shown(d.get('attempt'))} ({why}); radbill will try again."
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


def _with(template: str, *keys: str) -> Sentence:
    """A fixed sentence with {actor} and detail values (shown as "(empty)" when missing)."""
    def sentence(d: dict, actor: str, currency: str) -> str:
        return template.format(actor=actor, **{k: _shown(d.get(k)) for k in keys})
    return sentence


def _edit(what: str) -> Sentence:
    return lambda d, actor, currency: f"{what} edited by {actor}: {_changes(d)}."


SENTENCES: dict[str, Sentence] = {
    # customers
    "create": _create,
    "edit": _edit("Details"),
    "delete": _delete,
    "customer.suspend": _status("Suspended"),
    "customer.disable": _status("Disabled"),
    "customer.activate": _status("Reactivated"),
    "customer.change_package": _with("Package changed to {package} by {actor}.", "package"),
    "customer.set_custom_price": _price,
    "customer.disconnect": _with("Disconnect of session {acct_session_id} on router {nas_ip} requested by {actor}.",
                                 "acct_session_id", "nas_ip"),
    "outbox.disconnect": _outbox("disconnect"),
    "outbox.coa": _outbox("coa"),
    "outbox.sms": _outbox("sms"),
    "outbox.webhook": _outbox("webhook"),
    "alert": lambda d, actor, currency: f"Alert: {d.get('message') or d.get('alert') or 'see the alerts page'}",
    # imports
    "import": _with("Customers imported by {actor}.",),
    "rollback": _with("Import rolled back by {actor}: {removed} customers removed.", "removed"),
    # logins and accounts
    "login": _with("Signed in: {username}.", "username"),
    "login_failed": _with("Failed sign-in for {username}.", "username"),
    "login_throttled": _with("Too many failed sign-ins for {username}: sign-in paused for a while.", "username"),
    "logout": _with("{actor} signed out."),
    "totp_ok": _with("{actor} passed the two-step check."),
    "totp_failed": _with("{actor} entered a wrong two-step code."),
    "totp_enabled": _with("{actor} turned on two-step sign-in."),
    "totp_disabled": _with("{actor} turned off two-step sign-in."),
    "password_changed": _with("{actor} changed their password."),
    "password_reset": _with("Password of {username} reset by {actor}.", "username"),
    "account_active": _with("Login {username} enabled by {actor}.", "username"),
    "account_disabled": _with("Login {username} disabled by {actor}.", "username"),
    "permission_denied": _with("{actor} was refused a page they may not use.",),
    # routers
    "router.create": _with("Router {name} added by {actor}.", "name"),
    "router.edit": _edit("Router"),
    "router.new_secret": _with("New shared secret for the router made by {actor}."),
    "router.disable": _with("Router disabled by {actor}."),
    "router.enable": _with("Router enabled by {actor}."),
    "router.delete": _with("Router {name} deleted by {actor}.", "name"),
    # catalogue
    "package.create": _with("Package {name} created by {actor}.", "name"),
    "package.edit": _edit("Package"),
    "package.retire": _with("Package retired by {actor}: no new sales."),
    "package.reactivate": _with("Package made available again by {actor}."),
    "package.delete": _with("Package {name} deleted by {actor}.", "name"),
    "package.assign": _edit("Package offer"),
    "package.unassign": _with("Package withdrawn from an operator by {actor}."),
    "billing_profile.create": _with("Billing profile {name} created by {actor}.", "name"),
    "billing_profile.edit": _edit("Billing profile"),
    "billing_profile.retire": _with("Billing profile retired by {actor}."),
    "billing_profile.reactivate": _with("Billing profile made available again by {actor}."),
    "billing_profile.assign": _with("Billing profile offered to an operator by {actor}."),
    "billing_profile.unassign": _with("Billing profile withdrawn from an operator by {actor}."),
    "zone.create": _with("Zone {name} created by {actor}.", "name"),
    "zone.rename": _edit("Zone"),
    "zone.delete": _with("Zone {name} deleted by {actor}.", "name"),
    # money and messages
    "payment.cash": _with("Cash payment recorded by {actor}."),
    "payment.advance": _with("Advance payment recorded by {actor}."),
    "payment.reverse": _reversal,
    "bill.void": _void,
    "cash_close": lambda d, actor, currency: _("Cash of %(day)s closed by %(actor)s.", day=_shown(d.get("day")),
                                               actor=actor),
    "reseller.top_up": _with("Reseller balance topped up by {actor}."),
    "reseller.credit_limit": _edit("Reseller credit limit"),
    "sms.gateway.save": _with("SMS gateway settings saved by {actor}."),
    "sms.template.save": _with("SMS template saved by {actor}."),
    "sms.settings.save": _with("SMS settings saved by {actor}."),
    "sms.broadcast": _with("SMS broadcast sent by {actor}."),
    "sms.topup": _with("SMS credit topped up by {actor}."),
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
    what = action.replace("_", " ").replace(".", " ")
    return f"{what.capitalize()} by {_who(actor)}" + (f" ({facts})." if facts else ".")


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
                text = text.rstrip(".") + f" — {describe(result['action'], result['detail'], None, currency).rstrip('.')} at {at}."
        e["sentence"] = text
    return entries


def _clock(moment: datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%H:%M:%S")
