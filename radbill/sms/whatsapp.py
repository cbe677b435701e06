"""WhatsApp Business Cloud API, pure: the channel rule, the template message body, the answer's meaning, the
status webhook's signature and statuses. Values in, values out: no driver, no network.

Template messages carry the event SMS' values as positional body parameters ({{1}}, {{2}}, ...), in the order
TEMPLATE_PARAMETERS lists, so an operator's approved template can say the same as the SMS.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Literal

from radbill.sms.gateway import SendResult

Channel = Literal["sms", "whatsapp", "whatsapp_then_sms"]
CHANNELS: tuple[Channel, ...] = ("sms", "whatsapp", "whatsapp_then_sms")
LANGUAGES = ("bn", "en")

# the six event SMS that WhatsApp can carry -> their template's body parameters, in order
TEMPLATE_PARAMETERS = {
    "bill_generated": ("customer_name", "amount", "package", "due_date", "pay_link", "isp_name"),
    "payment_received": ("customer_name", "amount", "package", "expiry", "isp_name"),
    "account_suspended": ("customer_name", "username", "isp_name"),
    "account_activated": ("customer_name", "username", "isp_name"),
    "expiry_reminder": ("customer_name", "package", "expiry", "pay_link", "isp_name"),
    "due_reminder": ("customer_name", "amount", "due_date", "pay_link", "isp_name"),
}

# Cloud API error codes that no retry can change: the number is not on WhatsApp / cannot receive (131026), the
# 24-hour window is closed (131047), the template is missing, paused or its parameters do not match.
NOT_ON_WHATSAPP = 131026
# throttling: the platform asks us to slow down, a later attempt succeeds
TRANSIENT_CODES = frozenset({4, 80007, 130429, 131048, 131056, 133004})


def choose_channel(event: str, has_sender: bool, saved: str | None) -> Channel:
    """The channel an event message goes by: the operator's choice when it has a working WhatsApp sender;
    SMS otherwise (an event WhatsApp cannot carry, no settings, no access token)."""
    if event not in TEMPLATE_PARAMETERS or not has_sender or saved not in CHANNELS:
        return "sms"
    return saved  # type: ignore[return-value]


def template_body(to_number: str, name: str, language: str, parameters: list[str]) -> dict:
    """The messages endpoint's JSON for one template message; `to_number` in E.164 ('+8801...')."""
    template: dict = {"name": name, "language": {"code": language}}
    if parameters:
        # the platform refuses an empty text parameter: a value we lack is sent as a dash
        template["components"] = [{"type": "body", "parameters": [{"type": "text", "text": p or "-"}
                                                                  for p in parameters]}]
    return {"messaging_product": "whatsapp", "to": to_number.lstrip("+"), "type": "template", "template": template}


def messages_url(base_url: str, api_version: str, phone_number_id: str) -> str:
    return f"{base_url.rstrip('/')}/{api_version}/{phone_number_id}/messages"


def interpret_answer(status: int, body: str) -> SendResult:
    """A messages endpoint answer: accepted with its wamid, or why not and whether retrying may help."""
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    if 200 <= status < 300:
        messages = data.get("messages")
        wamid = messages[0].get("id") if isinstance(messages, list) and messages and isinstance(messages[0], dict) \
            else None
        if wamid:
            return SendResult(True, provider_message_id=str(wamid))
        return SendResult(False, error=f"HTTP {status} without a message id: {body[:200]}", transient=True)
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    code = error.get("code")
    text = str(error.get("message") or error.get("error_user_msg") or body[:200] or "no reason given")
    described = f"WhatsApp error {code}: {text}" if code is not None else f"HTTP {status}: {text}"
    transient = status >= 500 or status == 429 or code in TRANSIENT_CODES
    return SendResult(False, error=described[:500], transient=transient)


def signature_valid(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    """X-Hub-Signature-256 is 'sha256=' + hex HMAC-SHA256 of the raw body with the app secret; compared in
    constant time."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256="):].strip().lower())


def sign(app_secret: str, raw_body: bytes) -> str:
    """The header value the platform sends for `raw_body` (the fake Cloud API and tests use it)."""
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class StatusUpdate:
    phone_number_id: str
    wamid: str
    status: str  # sent | delivered | read | failed
    timestamp: int | None
    error: str | None


STATUSES = frozenset({"sent", "delivered", "read", "failed"})


def parse_statuses(payload: object) -> list[StatusUpdate]:
    """The statuses of a webhook body (entry[].changes[].value.statuses[]); anything else is ignored (messages
    from customers, unknown statuses). Malformed parts are skipped, never raised."""
    found: list[StatusUpdate] = []
    entries = payload.get("entry") if isinstance(payload, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                continue
            metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
            phone = str(metadata.get("phone_number_id") or "")
            statuses = value.get("statuses")
            for s in statuses if isinstance(statuses, list) else []:
                if isinstance(s, dict) and s.get("id") and s.get("status") in STATUSES and phone:
                    found.append(StatusUpdate(phone, str(s["id"]), s["status"], _int(s.get("timestamp")),
                                              _error(s.get("errors"))))
    return found


def phone_number_ids(payload: object) -> set[str]:
    """Every sender the body names (each must be one whose app secret signed it)."""
    ids = set()
    entries = payload.get("entry") if isinstance(payload, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        for change in (entry.get("changes") or []) if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) else None
            metadata = value.get("metadata") if isinstance(value, dict) else None
            if isinstance(metadata, dict) and metadata.get("phone_number_id"):
                ids.add(str(metadata["phone_number_id"]))
    return ids


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _error(errors) -> str | None:
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None
    first = errors[0]
    title = first.get("title") or first.get("message") or ""
    return f"WhatsApp error {first.get('code')}: {title}"[:500]
