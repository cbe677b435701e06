"""Pure SMS core: templates (placeholders, validation, rendering), segment counting, sending hours and the
generic HTTP gateway's request/response rules. Values in, values out: no driver, no network."""

from radbill.sms.gateway import (
    DeliveryReport,
    GatewayConfig,
    HttpRequest,
    SendResult,
    build_request,
    interpret_response,
    parse_delivery_report,
    parse_gateway_form,
)
from radbill.sms.text import (
    EVENTS,
    PLACEHOLDERS,
    Segments,
    count_segments,
    reminder_slot,
    render,
    validate_template,
    within_sending_hours,
)

__all__ = ["EVENTS", "PLACEHOLDERS", "DeliveryReport", "GatewayConfig", "HttpRequest", "SendResult", "Segments",
           "build_request", "count_segments", "interpret_response", "parse_delivery_report", "parse_gateway_form",
           "reminder_slot", "render", "validate_template", "within_sending_hours"]
