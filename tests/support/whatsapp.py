"""WhatsApp tests' numbers (one per operator at the local Cloud API), the settings form and choosing a channel."""

from __future__ import annotations

from radbill.services import whatsapp_config
from radbill.sms.whatsapp import TEMPLATE_PARAMETERS
from tests.support.scopes import scope_of
from tests.whatsapp_cloud import CloudApi

NUMBERS = {"op_a": ("1001", "token-A-123", "app-secret-A"), "op_b": ("2002", "token-B-456", "app-secret-B")}
MOBILES = {"a1": "+8801711111111", "a2": "+8801733333333", "b": "+8801722222222"}


def settings_form(cloud: CloudApi, op: str, channel: str = "whatsapp", language: str = "bn", **overrides) -> dict:
    phone, token, secret = NUMBERS[op]
    form = {"base_url": cloud.url, "api_version": "v21.0", "phone_number_id": phone, "access_token": token,
            "app_secret": secret, "verify_token": f"verify-{op}"}
    for event in TEMPLATE_PARAMETERS:
        form.update({f"channel_{event}": channel, f"template_{event}": event + "_v1", f"language_{event}": language})
    return {**form, **overrides}


async def choose(wa, op: str, channel: str, language: str = "bn") -> None:
    """Set every event of `op` to `channel` (secrets left as stored)."""
    async with wa.pool.acquire() as conn:
        form = settings_form(wa.cloud, op, channel, language, access_token="", app_secret="", verify_token="")
        await whatsapp_config.save_settings(conn, scope_of(wa.tree.ops[op]), form)
