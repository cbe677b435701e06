"""The pure core: placeholders, rendering, segments (GSM-7 and UCS-2/Bangla), sending hours, reminder slots,
gateway request/response rules."""

from datetime import UTC, datetime, time

import pytest

from radbill.errors import ValidationError
from radbill.sms import (
    GatewayConfig,
    build_request,
    count_segments,
    interpret_response,
    parse_delivery_report,
    parse_gateway_form,
    reminder_slot,
    render,
    validate_template,
    within_sending_hours,
)

BANGLA = "প্রিয় {customer_name}, আপনার {amount} বিল {due_date} তারিখের মধ্যে পরিশোধ করুন। {isp_name}"


def test_unknown_placeholders_are_refused_at_save_and_named():
    with pytest.raises(ValidationError) as err:
        validate_template("Hi {customer_name}, pay {amout} by {due}")
    assert "{amout}" in str(err.value) and "{due}" in str(err.value) and "{amount}" in str(err.value)
    assert validate_template("  Hi {customer_name}  ") == "Hi {customer_name}"


def test_bangla_template_renders_and_counts_as_ucs2():
    text = render(validate_template(BANGLA), {"customer_name": "রহিম", "amount": "৳৫০০", "due_date": "১০ জুলাই",
                                              "isp_name": "ঢাকা নেট"})
    assert text.startswith("প্রিয় রহিম, আপনার ৳৫০০ বিল ১০ জুলাই")
    seg = count_segments(text)
    assert seg.encoding == "ucs2" and seg.units == len(text)
    assert seg.count == (1 if len(text) <= 70 else -(-len(text) // 67))


@pytest.mark.parametrize(("text", "encoding", "count"), [
    ("a" * 160, "gsm7", 1), ("a" * 161, "gsm7", 2), ("a" * 306, "gsm7", 2), ("a" * 307, "gsm7", 3),
    ("€" * 80, "gsm7", 1), ("€" * 81, "gsm7", 2),          # extension characters cost two septets
    ("a" * 152 + "€", "gsm7", 1), ("a" * 152 + "€" + "a" * 8, "gsm7", 2),  # 161 septets: the € is not split
    ("আ" * 70, "ucs2", 1), ("আ" * 71, "ucs2", 2), ("আ" * 134, "ucs2", 2), ("আ" * 135, "ucs2", 3),
    ("a" * 69 + "😀", "ucs2", 2),                           # a surrogate pair is two code units
    ("", "gsm7", 1),
])
def test_segments(text, encoding, count):
    seg = count_segments(text)
    assert (seg.encoding, seg.count) == (encoding, count)


def test_sending_hours_in_the_operators_zone():
    # 03:30 UTC is 09:30 in Dhaka (UTC+6)
    at = datetime(2025, 7, 1, 3, 30, tzinfo=UTC)
    assert within_sending_hours(at, "Asia/Dhaka", time(9), time(21))
    assert not within_sending_hours(at, "UTC", time(9), time(21))
    assert within_sending_hours(datetime(2025, 7, 1, 17, 0, tzinfo=UTC), "Asia/Dhaka", time(22), time(7))


def test_reminder_slots():
    assert [reminder_slot(d, [3, 1]) for d in (5, 4, 3, 2, 1, 0)] == [None, None, 3, 3, 1, 1]


def test_gateway_form_and_request():
    name, kind, config = parse_gateway_form({
        "name": "SSL", "kind": "http", "url": "https://sms.example.com/api?user={sender}", "method": "GET",
        "params": "msisdn={to}\nsms={message}\napi_token={secret}", "number_format": "local"})
    request = build_request(config, "s3cret", "+8801712345678", "হ্যালো")
    assert request.method == "GET" and request.params == {"msisdn": "01712345678", "sms": "হ্যালো", "api_token": "s3cret"}
    with pytest.raises(ValidationError) as err:
        parse_gateway_form({"name": "x", "kind": "http", "url": "https://a/b", "params": "to={to}\ntext={msg}"})
    assert "{msg}" in err.value.fields["params"]


def test_provider_answers_are_interpreted():
    config = GatewayConfig(success_path="status", success_value="success", message_id_path="message_id",
                           error_path="error")
    assert interpret_response(config, 200, '{"status": "success", "message_id": "m-1"}').provider_message_id == "m-1"
    refused = interpret_response(config, 200, '{"status": "error", "error": "Invalid mobile number"}')
    assert not refused.ok and not refused.transient and refused.error == "Invalid mobile number"
    busy = interpret_response(config, 503, '{"status": "error", "error": "busy"}')
    assert busy.transient and busy.error == "HTTP 503: busy"
    assert not interpret_response(config, 401, "{}").transient
    report = parse_delivery_report(config, {"message_id": "m-1", "status": "UNDELIVERED", "error": "absent"})
    assert report.status == "failed" and report.error == "absent"
