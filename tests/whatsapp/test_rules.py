"""The pure WhatsApp rules: the channel choice, the answer's meaning, the signature."""

from __future__ import annotations

import pytest

from radbill.sms.whatsapp import choose_channel, interpret_answer, sign, signature_valid, template_body


@pytest.mark.parametrize(("event", "has_sender", "saved", "expected"), [
    ("bill_generated", True, "whatsapp", "whatsapp"),
    ("bill_generated", True, "whatsapp_then_sms", "whatsapp_then_sms"),
    ("bill_generated", True, None, "sms"),             # no choice saved for the event
    ("bill_generated", False, "whatsapp", "sms"),      # no access token: cannot send by WhatsApp
    ("portal_otp", True, "whatsapp", "sms"),           # not one of the six template events
    ("bill_generated", True, "telegram", "sms"),
])
def test_channel_choice(event, has_sender, saved, expected):
    assert choose_channel(event, has_sender, saved) == expected


@pytest.mark.parametrize(("status", "body", "ok", "transient", "error"), [
    (200, '{"messages": [{"id": "wamid.X"}]}', True, False, None),
    (400, '{"error": {"code": 131026, "message": "Message undeliverable"}}', False, False,
     "WhatsApp error 131026: Message undeliverable"),
    (400, '{"error": {"code": 131047, "message": "Re-engagement message"}}', False, False,
     "WhatsApp error 131047: Re-engagement message"),
    (400, '{"error": {"code": 130429, "message": "Rate limit hit"}}', False, True, "WhatsApp error 130429: Rate limit hit"),
    (503, "<html>down</html>", False, True, "HTTP 503: <html>down</html>"),
    (200, "{}", False, True, "HTTP 200 without a message id: {}"),
])
def test_answers(status, body, ok, transient, error):
    result = interpret_answer(status, body)
    assert (result.ok, result.transient, result.error) == (ok, transient, error)


def test_signature_is_the_hmac_of_the_exact_body():
    body = b'{"entry": []}'
    header = sign("s3cret", body)
    assert signature_valid("s3cret", body, header)
    assert not signature_valid("s3cret", body + b" ", header)
    assert not signature_valid("other", body, header)
    assert not signature_valid("s3cret", body, header.replace("sha256=", "sha1="))
    assert not signature_valid("s3cret", body, None)


def test_template_body_shape():
    assert template_body("+8801711111111", "bill_v1", "bn", ["Rahim", ""]) == {
        "messaging_product": "whatsapp", "to": "8801711111111", "type": "template",
        "template": {"name": "bill_v1", "language": {"code": "bn"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Rahim"}, {"type": "text", "text": "-"}]}]}}
