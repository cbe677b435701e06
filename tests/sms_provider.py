"""A local SMS provider for tests: an aiohttp server on 127.0.0.1 speaking a typical HTTP SMS API.

POST /api/v1/sms/send (form or JSON: to, message, sender; header Authorization: Bearer <api key>) answers
    200 {"status": "success", "message_id": "..."}                       accepted
    200 {"status": "error", "error": "Invalid mobile number"}           a rejected number (see `reject`)
    401 {"status": "error", "error": "Invalid API key"}
    503 {"status": "error", "error": "..."}                              while `fail_next` lasts
    nothing for `timeout_next` requests (the connection is held open past the client's timeout)
`report(message_id, status, url)` POSTs a delivery report (form: message_id, status, error) to our callback.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field

from aiohttp import ClientSession, web


@dataclass
class Received:
    to: str
    message: str
    sender: str
    message_id: str | None
    answered: int


@dataclass
class SmsProvider:
    api_key: str = "test-key-123"
    received: list[Received] = field(default_factory=list)
    rejected_numbers: set[str] = field(default_factory=set)
    failures: list[tuple[int, str]] = field(default_factory=list)
    timeouts: int = 0
    hold_seconds: float = 3.0
    requests: int = 0

    def __post_init__(self):
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> SmsProvider:
        app = web.Application()
        app.router.add_post("/api/v1/sms/send", self._send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 -- the port the OS chose
        self.url = f"http://127.0.0.1:{port}/api/v1/sms/send"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(self, count: int, status: int = 503, reason: str = "Operator network busy, try later") -> None:
        self.failures.extend([(status, reason)] * count)

    def timeout_next(self, count: int) -> None:
        self.timeouts += count

    def reject(self, number: str) -> None:
        self.rejected_numbers.add(number)

    async def _send(self, request: web.Request) -> web.Response:
        self.requests += 1
        if request.content_type == "application/json":
            fields = await request.json()
        else:
            fields = dict(await request.post())
        to, message, sender = str(fields.get("to", "")), str(fields.get("message", "")), str(fields.get("sender", ""))
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._answer(to, message, sender, 401, {"status": "error", "error": "Invalid API key"})
        if self.timeouts:
            self.timeouts -= 1
            await asyncio.sleep(self.hold_seconds)
        if self.failures:
            status, reason = self.failures.pop(0)
            return self._answer(to, message, sender, status, {"status": "error", "error": reason})
        if to in self.rejected_numbers:
            return self._answer(to, message, sender, 200, {"status": "error", "error": "Invalid mobile number"})
        if not to or not message:
            return self._answer(to, message, sender, 400, {"status": "error", "error": "to and message are required"})
        message_id = f"m-{next(self._ids)}"
        return self._answer(to, message, sender, 200, {"status": "success", "message_id": message_id}, message_id)

    def _answer(self, to, message, sender, status, body, message_id=None) -> web.Response:
        self.received.append(Received(to, message, sender, message_id, status))
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")

    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.message_id]

    async def report(self, callback_url: str, message_id: str, status: str = "DELIVERED", error: str = "") -> int:
        """POST a delivery report like real providers do (form fields); returns our HTTP status."""
        async with ClientSession() as session, session.post(
                callback_url, data={"message_id": message_id, "status": status, "error": error}) as response:
            return response.status


# how radbill is configured to talk to this provider (the admin form's fields)
def gateway_form(provider: SmsProvider, **overrides) -> dict:
    return {"name": "Local provider", "kind": "http", "url": provider.url, "method": "POST", "body_format": "form",
            "params": "to={to}\nmessage={message}\nsender={sender}", "headers": "Authorization: Bearer {secret}",
            "secret": provider.api_key, "sender": "RADBILL", "number_format": "digits",
            "success_path": "status", "success_value": "success", "message_id_path": "message_id",
            "error_path": "error", "dlr_id_field": "message_id", "dlr_status_field": "status",
            "dlr_delivered": "delivered", "dlr_failed": "failed, undelivered", "dlr_error_field": "error",
            "rate_per_second": "1000", "timeout_seconds": "2", "is_default": "on", **overrides}
