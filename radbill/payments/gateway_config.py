"""What an operator configures for an online gateway account (pure: no I/O): the kinds, each kind's credential
fields, the API root per kind and mode, and the form's validation. Credentials are sealed by
radbill.services.payment_gateways and never shown again."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from radbill.errors import ValidationError
from radbill.i18n import _, lazy_gettext

KINDS = {"bkash": "bKash (Tokenized Checkout)", "sslcommerz": "SSLCommerz", "nagad": "Nagad"}
MODES = {"sandbox": lazy_gettext("Sandbox (test money)"), "live": lazy_gettext("Live")}
# each kind's credentials, as its merchant panel names them; every one is required for a new account
_l = lazy_gettext
CREDENTIALS: dict[str, dict[str, str]] = {
    "bkash": {"username": _l("Username"), "password": _l("Password"), "app_key": _l("App key"),
              "app_secret": _l("App secret")},
    "sslcommerz": {"store_id": _l("Store ID"), "store_passwd": _l("Store password")},
    "nagad": {"merchant_id": _l("Merchant ID"), "merchant_private_key": _l("Merchant private key (PEM)"),
              "pg_public_key": _l("Nagad public key (PEM)")},
}
# the gateways' published API roots; an empty base URL on the form means this one
DEFAULT_BASE_URLS = {
    ("bkash", "sandbox"): "https://tokenized.sandbox.bka.sh/v1.2.0-beta",
    ("bkash", "live"): "https://tokenized.pay.bka.sh/v1.2.0-beta",
    ("sslcommerz", "sandbox"): "https://sandbox.sslcommerz.com",
    ("sslcommerz", "live"): "https://securepay.sslcommerz.com",
    ("nagad", "sandbox"): "http://sandbox.mynagad.com:10080/remote-payment-gateway-1.0",
    ("nagad", "live"): "https://api.mynagad.com",
}
_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/%-]*)?$")
_PERCENT = re.compile(r"^(?P<int>[0-9]{1,3})(?:\.(?P<frac>[0-9]{1,2}))?$")
MAX_CREDENTIAL = 8000  # a PEM key fits with room to spare


def credential_field(kind: str, key: str) -> str:
    """The form field of one credential (kind-prefixed: the form carries every kind's fields)."""
    return f"cred_{kind}_{key}"


def fee_basis_points(text: str) -> int:
    """'1.85' (percent) -> 185 basis points, exactly; 0–100 %."""
    match = _PERCENT.match((text or "0").strip().removesuffix("%").strip())
    if not match:
        raise ValueError(_("Enter the fee as a percentage with at most two decimals, like 1.85."))
    bps = int(match.group("int")) * 100 + int((match.group("frac") or "").ljust(2, "0"))
    if bps > 10000:
        raise ValueError(_("The fee can be at most 100 %."))
    return bps


def percent_text(bps: int) -> str:
    return f"{bps // 100}.{bps % 100:02d}"


@dataclass(frozen=True)
class GatewaySettings:
    kind: str
    label: str
    mode: str
    base_url: str
    fee_basis_points: int
    enabled: bool
    credentials: dict[str, str]  # only the fields entered now (empty ones are "keep the stored value")


def parse_form(form: Mapping, *, require_credentials: bool) -> GatewaySettings:
    """Validate the gateway form; ValidationError names each wrong field. `require_credentials`: a new account
    (or one changing its kind) needs every credential of its kind."""
    text = {k: str(form.get(k) or "").strip() for k in ("kind", "label", "mode", "base_url", "fee_percent")}
    errors: dict[str, str] = {}
    kind, mode = text["kind"], text["mode"] or "sandbox"
    if kind not in KINDS:
        errors["kind"] = _("Choose bKash, SSLCommerz or Nagad.")
    if mode not in MODES:
        errors["mode"] = _("Choose sandbox or live.")
    if not 1 <= len(text["label"]) <= 80:
        errors["label"] = _("Give the account a name of 1–80 characters, e.g. bKash merchant.")
    base_url = text["base_url"].rstrip("/") or DEFAULT_BASE_URLS.get((kind, mode), "")
    if base_url and not _URL.match(base_url):
        errors["base_url"] = _("Enter the API address as http(s)://host/path, or leave it empty for the default.")
    try:
        fee = fee_basis_points(text["fee_percent"])
    except ValueError as exc:
        errors["fee_percent"], fee = str(exc), 0
    credentials: dict[str, str] = {}
    for key, label in CREDENTIALS.get(kind, {}).items():
        name = credential_field(kind, key)
        value = str(form.get(name) or "").strip()
        if len(value) > MAX_CREDENTIAL:
            errors[name] = _("This value is too long.")
        elif value:
            credentials[key] = value
        elif require_credentials:
            errors[name] = _("Enter the %(field)s from the gateway's merchant panel.", field=label)
    if errors:
        raise ValidationError(_("Please correct the gateway settings."), errors)
    return GatewaySettings(kind, text["label"], mode, base_url, fee, form.get("enabled") in ("on", "1", "yes"),
                           credentials)
