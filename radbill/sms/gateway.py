"""The generic HTTP SMS gateway, as values: what an operator types in → a config; a config and a message → the
HTTP request to make; the provider's answer → sent or failed (and whether trying again can help); a delivery
report → the message's new status. The services layer does the I/O.

Placeholders in the URL, parameters and headers: {to} {message} {sender} {secret}. The secret is stored apart
from the config and never shown again.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from urllib.parse import quote, urlsplit

from radbill.errors import ValidationError
from radbill.i18n import _, lazy_gettext

KINDS = ("http", "log")
METHODS = ("GET", "POST")
BODY_FORMATS = ("form", "json")
NUMBER_FORMATS = {"e164": "+8801712345678", "digits": "8801712345678", "local": "01712345678"}
GATEWAY_PLACEHOLDERS = ("to", "message", "sender", "secret")
_FIELD = re.compile(r"\{([^{}\s]*)\}")
TRANSIENT_STATUS = {408, 425, 429}


@dataclass(frozen=True)
class GatewayConfig:
    """Everything but the secret; stored as sms_gateways.config (JSON)."""

    url: str = ""
    method: str = "POST"
    body_format: str = "form"
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    sender: str = ""
    number_format: str = "e164"
    success_path: str = ""      # dotted JSON path that must equal success_value on a 2xx; empty: any 2xx
    success_value: str = ""
    message_id_path: str = ""   # dotted JSON path of the provider's message id
    error_path: str = ""        # dotted JSON path of the provider's reason on failure
    dlr_id_field: str = "message_id"
    dlr_status_field: str = "status"
    dlr_delivered: tuple[str, ...] = ("delivered",)
    dlr_failed: tuple[str, ...] = ("failed", "undelivered", "rejected", "expired")
    dlr_error_field: str = "error"
    rate_per_second: float = 20.0
    timeout_seconds: float = 10.0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict | str | None) -> GatewayConfig:
        data = json.loads(data) if isinstance(data, str) else dict(data or {})
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("dlr_delivered", "dlr_failed"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, str] | None = None   # query string
    form: dict[str, str] | None = None
    json_body: dict | None = None


@dataclass(frozen=True)
class SendResult:
    """ok: accepted (provider_message_id may be None); otherwise `error` says why and `transient` whether a
    later attempt may succeed (timeouts, 5xx, 429) or not (a rejected number, a wrong key)."""

    ok: bool
    provider_message_id: str | None = None
    error: str | None = None
    transient: bool = False


@dataclass(frozen=True)
class DeliveryReport:
    provider_message_id: str
    status: str            # delivered | failed | sent (an intermediate report)
    error: str | None = None


def _lines(text: str, sep: str) -> dict[str, str]:
    out = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        if sep not in line:
            raise ValueError(line.strip())
        key, value = line.split(sep, 1)
        out[key.strip()] = value.strip()
    return out


def _check_fields(text: str) -> list[str]:
    return sorted({n for n in _FIELD.findall(text) if n not in GATEWAY_PLACEHOLDERS})


def parse_gateway_form(form) -> tuple[str, str, GatewayConfig]:
    """(name, kind, config) from the gateway form; ValidationError maps fields to what is wrong."""
    get = lambda key, default="": str(form.get(key, default) or default).strip()  # noqa: E731
    errors: dict[str, str] = {}
    name, kind = get("name"), get("kind", "http")
    if not 1 <= len(name) <= 80:
        errors["name"] = _("Give the gateway a name (up to 80 characters).")
    if kind not in KINDS:
        errors["kind"] = _("Choose HTTP or log.")
    values: dict = {"url": get("url"), "method": get("method", "POST").upper(), "body_format": get("body_format", "form"),
                    "sender": get("sender"), "number_format": get("number_format", "e164"),
                    "success_path": get("success_path"), "success_value": get("success_value"),
                    "message_id_path": get("message_id_path"), "error_path": get("error_path"),
                    "dlr_id_field": get("dlr_id_field", "message_id"), "dlr_status_field": get("dlr_status_field", "status"),
                    "dlr_error_field": get("dlr_error_field", "error")}
    for key, problem in (("params", lazy_gettext("Parameters: write one per line as name=value (%(problem)s).")),
                         ("headers", lazy_gettext("Headers: write one per line as name: value (%(problem)s)."))):
        try:
            values[key] = _lines(get(key), "=" if key == "params" else ":")
        except ValueError as exc:
            errors[key] = str(problem) % {"problem": exc}
    for key in ("dlr_delivered", "dlr_failed"):
        values[key] = tuple(v.strip().lower() for v in get(key).split(",") if v.strip()) or \
            GatewayConfig.__dataclass_fields__[key].default
    for key, low, high, default in (("rate_per_second", 0.1, 1000, 20.0), ("timeout_seconds", 1, 25, 10.0)):
        try:
            values[key] = float(get(key) or default)
            if not low <= values[key] <= high:
                raise ValueError
        except ValueError:
            errors[key] = _("Use a number from %(low)s to %(high)s.", low=format(low, "g"), high=format(high, "g"))
    if kind == "http":
        parts = urlsplit(values["url"])
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors["url"] = _("Enter the provider's API address, e.g. https://api.example.com/send.")
        if values["method"] not in METHODS:
            errors["method"] = _("Choose GET or POST.")
        if values["body_format"] not in BODY_FORMATS:
            errors["body_format"] = _("Choose form or JSON.")
        if values["number_format"] not in NUMBER_FORMATS:
            errors["number_format"] = _("Choose how the provider wants numbers written.")
        everything = " ".join([values["url"], *values.get("params", {}).values(), *values.get("headers", {}).values()])
        unknown = _check_fields(everything)
        if unknown:
            errors["params"] = _("Unknown placeholder %(names)s: use {to}, {message}, {sender} or {secret}.",
                                 names=", ".join("{" + u + "}" for u in unknown))
        elif "{message}" not in everything or "{to}" not in everything:
            errors["params"] = _("The request must carry {to} and {message} (in the URL or a parameter).")
    if errors:
        raise ValidationError(_("Check the highlighted fields."), errors)
    return name, kind, GatewayConfig(**values)


def format_number(e164: str, number_format: str) -> str:
    """+8801712345678 as the provider wants it: e164, digits (8801712345678) or local (01712345678)."""
    if number_format == "digits":
        return e164.lstrip("+")
    if number_format == "local" and e164.startswith("+880"):
        return "0" + e164[4:]
    return e164


def build_request(config: GatewayConfig, secret: str | None, to: str, message: str) -> HttpRequest:
    """The HTTP request that sends `message` to `to` (E.164) through this gateway."""
    values = {"to": format_number(to, config.number_format), "message": message, "sender": config.sender,
              "secret": secret or ""}
    fill = lambda text: _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), text)  # noqa: E731
    # the URL gets only the non-message fields, URL-quoted by the client through `params` when they are there
    url = _FIELD.sub(lambda m: _quote(values.get(m.group(1), m.group(0))), config.url)
    params = {k: fill(v) for k, v in config.params.items()}
    headers = {k: fill(v) for k, v in config.headers.items()}
    if config.method == "GET":
        return HttpRequest("GET", url, headers, params=params)
    if config.body_format == "json":
        return HttpRequest("POST", url, headers, json_body=params)
    return HttpRequest("POST", url, headers, form=params)


def _quote(value: str) -> str:
    return quote(value, safe="")


def json_path(data, path: str):
    """data['a']['b'][0] for 'a.b.0'; None when any step is missing."""
    for step in path.split("."):
        if isinstance(data, list) and step.isdecimal() and int(step) < len(data):
            data = data[int(step)]
        elif isinstance(data, dict) and step in data:
            data = data[step]
        else:
            return None
    return data


def interpret_response(config: GatewayConfig, status: int, body: str) -> SendResult:
    """Sent or not, from the provider's HTTP status and body, by the gateway's success rule."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    reason = None
    if config.error_path and data is not None:
        found = json_path(data, config.error_path)
        reason = str(found) if found not in (None, "") else None
    snippet = " ".join(body.split())[:200] if body else ""
    if not 200 <= status < 300:
        transient = status >= 500 or status in TRANSIENT_STATUS
        return SendResult(False, error=f"HTTP {status}: {reason or snippet or 'no reason given'}", transient=transient)
    if config.success_path:
        found = json_path(data, config.success_path) if data is not None else None
        if found is None or str(found).lower() != config.success_value.lower():
            return SendResult(False, error=reason or f"the provider did not accept the message: {snippet}")
    message_id = None
    if config.message_id_path and data is not None:
        found = json_path(data, config.message_id_path)
        message_id = str(found) if found not in (None, "") else None
    return SendResult(True, provider_message_id=message_id)


def parse_delivery_report(config: GatewayConfig, fields: dict) -> DeliveryReport | None:
    """The report in a provider's callback (form, query or JSON fields), or None when it names no message."""
    message_id = str(fields.get(config.dlr_id_field) or "").strip()
    if not message_id:
        return None
    raw = str(fields.get(config.dlr_status_field) or "").strip().lower()
    if raw in config.dlr_delivered:
        return DeliveryReport(message_id, "delivered")
    if raw in config.dlr_failed:
        error = str(fields.get(config.dlr_error_field) or "").strip() or f"the provider reported {raw}"
        return DeliveryReport(message_id, "failed", error[:300])
    return DeliveryReport(message_id, "sent")
