"""A login code in an SMS is readable only on its way to the phone: the one rule for where it may be kept.

The outbox row carries the code sealed (radbill/secretbox.py, bound to the customer); the message history
(sms_messages.body) keeps the text with the code masked; the real text exists only in memory while it is handed
to the provider. So neither a queued nor a sent row, nor a database dump, tells a reader a live code.
"""

from __future__ import annotations

from radbill import secretbox

MASK = "••••••"


def _context(customer_id: int) -> str:
    return f"outbox.portal_otp:{customer_id}"


def payload_fields(customer_id: int, code: str) -> dict:
    """What an OTP SMS's outbox payload carries instead of the code itself."""
    return {"code_sealed": secretbox.seal(code, _context(customer_id))}


def code_in(payload: dict) -> str:
    """The code a payload carries ('' for none); a row queued before codes were sealed still has it plain."""
    if payload.get("code_sealed"):
        return secretbox.open_sealed(str(payload["code_sealed"]), _context(int(payload["customer_id"])))
    return str(payload.get("code") or "")


def shown_code(payload: dict) -> str:
    """The {code} placeholder's value in a stored message: the mask when the payload carries a code."""
    return MASK if payload.get("code_sealed") or payload.get("code") else ""


def text_to_send(body: str, payload: dict | None) -> str:
    """The stored (masked) body with the real code put back, for the provider only."""
    code = code_in(payload) if payload else ""
    return body.replace(MASK, code) if code else body
