"""Pure parsing and formatting for the package and billing-profile forms (no I/O): rates like "10M" or
"512k" to kbit/s, prices to minor units, data caps in GB, and the field-by-field checks."""

from __future__ import annotations

import re
from collections.abc import Mapping

from radbill import validate
from radbill.billing.money import exponent, parse_amount
from radbill.billing.package_change import SETTINGS as CHANGE_BILLING
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.policy import Speeds, format_rate

CONNECTION_TYPES = ("pppoe", "hotspot", "static", "other")
STATUSES = ("active", "retired")
CYCLE_KINDS = ("fixed_day", "validity_days")
CAP_PERIODS = ("calendar_month", "billing_cycle")  # radbill.billing.periods.cap_window
BILLING_TYPES = ("prepaid", "postpaid", "free")
MAX_KBPS = 100_000_000  # 100 Gbit/s; the columns are 32-bit integers
_RATE = re.compile(r"^(\d{1,9})(?:\.(\d{1,3}))?(k|m|g)?(?:b|bit|bit/s|bps|b/s)?$")
_GB = re.compile(r"^(\d{1,7})(?:\.(\d{1,3}))?$")
_POOL = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# form field -> packages column, for the rates
RATE_FIELDS = {"download": "download_kbps", "upload": "upload_kbps", "burst_download": "burst_download_kbps",
               "burst_upload": "burst_upload_kbps", "burst_threshold_download": "burst_threshold_download_kbps",
               "burst_threshold_upload": "burst_threshold_upload_kbps", "throttled_download": "throttled_download_kbps",
               "throttled_upload": "throttled_upload_kbps"}
PACKAGE_COLUMNS = ("name", "download_kbps", "upload_kbps", "burst_download_kbps", "burst_upload_kbps",
                   "burst_threshold_download_kbps", "burst_threshold_upload_kbps", "burst_time_seconds", "price_minor",
                   "validity_days", "ip_pool", "data_cap_bytes", "throttled_download_kbps", "throttled_upload_kbps",
                   "connection_types", "cap_period", "router_profile")
EXTRA_TIERS = (2, 3, 4)  # the form's rows for tiers after tier 1 (the package's own data cap and throttled rate)
PROFILE_COLUMNS = ("name", "cycle_kind", "billing_day", "validity_days", "due_days", "grace_days", "auto_suspend",
                   "billing_type", "change_billing")


# ---- parsing what people type (pure) --------------------------------------------------------------------

def _text(form: Mapping, key: str, limit: int = 200) -> str:
    return str(form.get(key) or "").strip()[:limit]


def _list(form: Mapping, key: str) -> list[str]:
    if hasattr(form, "getall"):
        return [str(v) for v in form.getall(key, [])]
    value = form.get(key)
    return [str(v) for v in value] if isinstance(value, list | tuple) else ([str(value)] if value else [])


def parse_rate(text: str) -> int:
    """'10M', '10 Mbit/s', '1.5M', '512k', '512 kbit/s', '1G' -> kbit/s; a bare number means Mbit/s."""
    match = _RATE.match(text.strip().lower().replace(" ", ""))
    if not match:
        raise ValueError(_("Write a rate like 10M (Mbit/s) or 512k (kbit/s)."))
    whole, frac, unit = match.group(1), match.group(2) or "", match.group(3) or "m"
    if unit == "k" and frac:
        raise ValueError(_("kbit/s must be a whole number, like 1500k."))
    factor = {"k": 1, "m": 1000, "g": 1_000_000}[unit]
    kbps = int(whole) * factor + int(frac.ljust(3, "0") or 0) * factor // 1000
    if not 0 < kbps <= MAX_KBPS:
        raise ValueError(_("A rate must be more than 0 and at most 100G."))
    return kbps


def parse_gigabytes(text: str) -> int:
    """'200' or '1.5' (GB, 10^9 bytes) -> bytes, exactly."""
    match = _GB.match(text.strip().replace(",", ""))
    if not match or (int(match.group(1)) == 0 and not int(match.group(2) or 0)):
        raise ValueError(_("Write the data cap in GB, like 200 or 1.5."))
    return int(match.group(1)) * 10**9 + int((match.group(2) or "").ljust(3, "0") or 0) * 10**6


def format_gigabytes(nbytes: int | None) -> str:
    if nbytes is None:
        return ""
    whole, rest = divmod(nbytes, 10**9)
    return str(whole) if not rest else f"{whole}.{rest * 1000 // 10**9:03d}".rstrip("0").rstrip(".")


def format_price(minor: int | None, currency: str) -> str:
    """Minor units back to what a person types: 123450 -> '1234.50'."""
    if minor is None:
        return ""
    digits = exponent(currency)
    whole, frac = divmod(minor, 10**digits)
    return f"{whole}.{frac:0{digits}d}" if digits else str(whole)


def parse_price(text: str, currency: str) -> int:
    try:
        return parse_amount(text, currency)
    except ValidationError as exc:
        if exc.fields.get("amount") in ("too large", "foreign digits"):  # its own sentence says what to do
            raise ValueError(str(exc)) from None
        raise ValueError(_("Write an amount like 500 or 1,234.50 (at most %(digits)s decimals).",
                           digits=exponent(currency))) from None


def rate_limit(row: Mapping) -> str:
    """The Mikrotik-Rate-Limit a package row (or validated values) sends."""
    return Speeds(row["download_kbps"], row["upload_kbps"], row["burst_download_kbps"], row["burst_upload_kbps"],
                  row["burst_threshold_download_kbps"], row["burst_threshold_upload_kbps"],
                  row["burst_time_seconds"]).rate_limit()


def throttled_rate_limit(row: Mapping) -> str | None:
    if row["throttled_download_kbps"] is None:
        return None
    return Speeds(row["throttled_download_kbps"], row["throttled_upload_kbps"]).rate_limit()


def package_values(form: Mapping, currency: str) -> dict:
    """Validate a package form into column values; ValidationError names each wrong field."""
    errors: dict[str, str] = {}
    values: dict = {"name": _text(form, "name", 80)}
    if not values["name"]:
        errors["name"] = _("Give the package a name.")
    for field, column in RATE_FIELDS.items():
        raw, values[column] = _text(form, field), None
        if raw:
            try:
                values[column] = parse_rate(raw)
            except ValueError as exc:
                errors[field] = str(exc)
        elif field in ("download", "upload"):
            errors[field] = _("Enter a rate like 10M or 512k.")
    burst_rates = [values["burst_download_kbps"], values["burst_upload_kbps"]]
    if (burst_rates[0] is None) != (burst_rates[1] is None) and not {"burst_download", "burst_upload"} & set(errors):
        missing = "burst_download" if burst_rates[0] is None else "burst_upload"
        errors[missing] = _("Burst needs both rates (or neither).")
    values["burst_time_seconds"] = None
    if _text(form, "burst_time"):
        try:
            values["burst_time_seconds"] = validate.positive_int(_text(form, "burst_time"), 1, 3600)
        except ValueError as exc:
            errors["burst_time"] = str(exc)
    if burst_rates == [None, None]:
        for field in ("burst_threshold_download", "burst_threshold_upload", "burst_time"):
            if _text(form, field) and field not in errors:
                errors[field] = _("Only used with burst rates: enter them, or leave this empty.")
    try:
        values["price_minor"] = parse_price(_text(form, "price"), currency)
    except ValueError as exc:
        errors["price"] = str(exc)
    try:
        values["validity_days"] = validate.positive_int(_text(form, "validity_days") or "30", 1, 3660)
    except ValueError as exc:
        errors["validity_days"] = str(exc)
    values["ip_pool"] = _text(form, "ip_pool", 100) or None
    if values["ip_pool"] and not _POOL.match(values["ip_pool"]):
        errors["ip_pool"] = _("The router's pool name: letters, digits, dot, dash, underscore (up to 64).")
    # a name the router already has (a MikroTik PPP profile, a Cisco ISG service...): radbill only names it
    values["router_profile"] = _text(form, "router_profile", 100) or None
    if values["router_profile"] and not _POOL.match(values["router_profile"]):
        errors["router_profile"] = _("The profile's name as the router knows it: letters, digits, dot, dash, "
                                     "underscore (up to 64).")
    values["data_cap_bytes"] = None
    if _text(form, "data_cap_gb"):
        try:
            values["data_cap_bytes"] = parse_gigabytes(_text(form, "data_cap_gb"))
        except ValueError as exc:
            errors["data_cap_gb"] = str(exc)
    throttled = [values["throttled_download_kbps"], values["throttled_upload_kbps"]]
    if _text(form, "data_cap_gb") and None in throttled:
        for field, value in zip(("throttled_download", "throttled_upload"), throttled, strict=True):
            if value is None and field not in errors:
                errors[field] = _("A data cap needs the throttled rate for after the cap.")
    elif not _text(form, "data_cap_gb") and throttled != [None, None]:
        errors["data_cap_gb"] = _("Throttled rates need a data cap (or clear them).")
    values["cap_tiers"] = cap_tier_values(form, values, errors)
    values["cap_period"] = _text(form, "cap_period") or "calendar_month"
    if values["cap_period"] not in CAP_PERIODS:
        errors["cap_period"] = _("Choose when the data cap starts again: each calendar month or each billing period.")
    values["connection_types"] = [t for t in CONNECTION_TYPES if t in _list(form, "connection_types")]
    if not values["connection_types"]:
        errors["connection_types"] = _("Choose at least one connection type.")
    if errors:
        raise ValidationError(_("Please correct the package."), errors)
    return values


def cap_tier_values(form: Mapping, values: Mapping, errors: dict) -> list[tuple[int, int, int]]:
    """The tiers after tier 1 as (after_bytes, download_kbps, upload_kbps): each row whole or empty, each
    threshold above the one before and each rate no faster than the one before (a tier only ever slows down)."""
    tiers: list[tuple[int, int, int]] = []
    previous = (values.get("data_cap_bytes"), values.get("throttled_download_kbps"), values.get("throttled_upload_kbps"))
    for n in EXTRA_TIERS:
        raw = {k: _text(form, f"tier{n}_{k}") for k in ("gb", "download", "upload")}
        if not any(raw.values()):
            continue
        if None in previous:
            errors[f"tier{n}_gb"] = _("Fill in the data cap and throttled rates (tier 1) before further tiers.")
            return tiers
        try:
            tier = (parse_gigabytes(raw["gb"]), parse_rate(raw["download"]), parse_rate(raw["upload"]))
        except ValueError as exc:
            errors[f"tier{n}_gb"] = _("Tier %(n)s needs its data amount in GB and both rates: %(why)s", n=n,
                                      why=str(exc))
            return tiers
        if tier[0] <= previous[0]:
            errors[f"tier{n}_gb"] = _("Tier %(n)s must start after more data than the tier before it.", n=n)
        elif tier[1] > previous[1] or tier[2] > previous[2] or tier[1:] == previous[1:]:
            errors[f"tier{n}_download"] = _("Tier %(n)s must be slower than the tier before it.", n=n)
        else:
            tiers.append(tier)
            previous = tier
            continue
        return tiers
    return tiers


def package_form(row: Mapping, tiers=()) -> dict:
    """A stored package as the form shows it (rates like '10M', price like '500.00'), with its further tiers."""
    form = {field: format_rate(row[column]) if row[column] else "" for field, column in RATE_FIELDS.items()}
    form.update(name=row["name"], burst_time=str(row["burst_time_seconds"] or ""),
                price=format_price(row["price_minor"], row["currency"]), validity_days=str(row["validity_days"]),
                ip_pool=row["ip_pool"] or "", data_cap_gb=format_gigabytes(row["data_cap_bytes"]),
                connection_types=list(row["connection_types"]), cap_period=row["cap_period"],
                router_profile=row["router_profile"] or "",
                vat_profile_id=str(row["vat_profile_id"] or ""))
    for n, tier in zip(EXTRA_TIERS, tiers, strict=False):
        form.update({f"tier{n}_gb": format_gigabytes(tier["after_bytes"]),
                     f"tier{n}_download": format_rate(tier["download_kbps"]),
                     f"tier{n}_upload": format_rate(tier["upload_kbps"])})
    return form


def profile_values(form: Mapping) -> dict:
    """Validate a billing-profile form into column values."""
    errors: dict[str, str] = {}
    values: dict = {"name": _text(form, "name", 80), "cycle_kind": _text(form, "cycle_kind"),
                    "billing_type": _text(form, "billing_type"), "billing_day": None, "validity_days": None,
                    "auto_suspend": _text(form, "auto_suspend") in ("1", "on", "yes", "true")}
    if not values["name"]:
        errors["name"] = _("Give the billing profile a name.")
    if values["cycle_kind"] not in CYCLE_KINDS:
        errors["cycle_kind"] = _("Choose a monthly billing day or a number of days.")
    if values["billing_type"] not in BILLING_TYPES:
        errors["billing_type"] = _("Choose prepaid, postpaid or free.")
    # a form (or API client) from before the setting existed keeps the default: bill the difference at once
    values["change_billing"] = _text(form, "change_billing") or "prorate_now"
    if values["change_billing"] not in CHANGE_BILLING:
        errors["change_billing"] = _("Choose how a package change is billed.")
    checks = [("due_days", 0, 365, "0"), ("grace_days", 0, 365, "0")]
    if values["cycle_kind"] == "fixed_day":
        checks.append(("billing_day", 1, 31, ""))
    elif values["cycle_kind"] == "validity_days":
        checks.append(("validity_days", 1, 3660, ""))
    for key, low, high, default in checks:
        raw = _text(form, key) or default
        if not raw:
            errors[key] = (_("Enter the day of the month bills are issued (1–31).") if key == "billing_day"
                           else _("Enter how many days one period lasts."))
            continue
        try:
            values[key] = validate.positive_int(raw, low, high)
        except ValueError as exc:
            errors[key] = str(exc)
    if errors:
        raise ValidationError(_("Please correct the billing profile."), errors)
    return values
