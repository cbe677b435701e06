"""The Add/Edit Customer form's pure checks (no I/O), shared by the admin form and the import wizard."""

from __future__ import annotations

from dataclasses import dataclass

from radbill import validate
from radbill.billing.money import parse_amount
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.passwords import generate

CONNECTION_TYPES = {"pppoe": "PPPoE", "hotspot": "Hotspot", "static": "Static IP", "other": "Other"}
STATUSES = ("active", "suspended", "disabled")
EDITABLE = ("name", "mobile", "email", "address", "national_id", "zone_id", "connection_type", "static_ip",
            "mac_address", "billing_profile_id", "custom_price_minor", "simultaneous_use", "radius_password",
            "username", "operator_id")


@dataclass
class CustomerForm:
    """Validated values for a customer row; `errors` maps a form field to what is wrong with it."""

    values: dict
    errors: dict


def _text(form, key: str, limit: int = 200) -> str:
    return str(form.get(key, "") or "").strip()[:limit]


def int_or_none(form, key: str) -> int | None:
    raw = _text(form, key)
    return validate.optional_id(raw)


def parse_form(form, currency: str, creating: bool) -> CustomerForm:
    """Pure checks of what was typed; database checks (uniqueness, scope) come after."""
    values, errors = {}, {}
    values["name"] = _text(form, "name", 120)
    if not values["name"]:
        errors["name"] = _("Enter the customer's name.")
    for key, check in (("mobile", validate.mobile), ("username", validate.radius_username),
                       ("mac_address", validate.mac_address), ("static_ip", validate.ipv4_host)):
        raw = _text(form, key)
        values[key] = None
        if raw:
            try:
                values[key] = check(raw)
            except ValueError as exc:
                errors[key] = str(exc)
    if creating and not values["username"] and "username" not in errors:
        errors["username"] = _("Choose the PPPoE/Hotspot username.")
    password = _text(form, "radius_password", 10_000)  # not cut at 128: an over-long password is an error
    values["radius_password"] = password or (generate(10) if creating else None)
    if password:
        try:
            validate.radius_password(password)
        except ValueError as exc:
            errors["radius_password"] = str(exc)
    values["connection_type"] = _text(form, "connection_type")
    # a static customer either types an address or asks for the next free one of a pool (taken when saving)
    values["static_pool"] = int_or_none(form, "static_pool") if values["connection_type"] == "static" else None
    if values["connection_type"] not in CONNECTION_TYPES:
        errors["connection_type"] = _("Choose PPPoE, Hotspot, Static IP or Other.")
    elif (values["connection_type"] == "static" and not values["static_ip"] and values["static_pool"] is None
          and "static_ip" not in errors):
        errors["static_ip"] = _("A static-IP customer needs an address: enter one or choose a pool.")
    elif values["connection_type"] != "static":
        values["static_ip"] = None
    for key in ("package_id", "billing_profile_id", "zone_id"):
        values[key] = int_or_none(form, key)
    if values["package_id"] is None:
        errors["package_id"] = _("Choose a package.")
    if values["billing_profile_id"] is None:
        errors["billing_profile_id"] = _("Choose a billing profile.")
    values["email"] = _text(form, "email") or None
    values["address"] = _text(form, "address", 500) or None
    values["national_id"] = _text(form, "national_id", 40) or None
    price = _text(form, "custom_price")
    values["custom_price_minor"] = None
    if price:
        try:
            values["custom_price_minor"] = parse_amount(price, currency)
        except ValidationError as exc:
            errors["custom_price"] = str(exc)
    limit = _text(form, "simultaneous_use")
    values["simultaneous_use"] = None
    if limit:
        try:
            values["simultaneous_use"] = validate.positive_int(limit, 1, 100)
        except ValueError as exc:
            errors["simultaneous_use"] = str(exc)
    return CustomerForm(values, errors)
