"""A local WhatsApp Business Cloud API for tests and demo mode: an aiohttp server on 127.0.0.1 speaking the
messages endpoint, and sending signed status webhooks back to radbill.

    python -m radbill.fakes.whatsapp_cloud --port 9102 --credentials-file var/fake-whatsapp.json

POST /{version}/{phone_number_id}/messages (Authorization: Bearer <token>; JSON template message) answers
    200 {"messaging_product": "whatsapp", "contacts": [...], "messages": [{"id": "wamid...."}]}
    401 {"error": {"code": 190, ...}}            a token other than the one this phone number id holds
    400 {"error": {"code": 100, ...}}            a body that is not a template message
    400 {"error": {"code": 131026, ...}}         a number told `not_on_whatsapp`
    500 {"error": {"code": 1, ...}}              while `fail_next` lasts
    nothing for `timeout_next` requests (held open past the client's timeout)
`status(webhook_url, wamid, status)` POSTs a status webhook signed with the phone number's app secret. With
`status_url` (the demo) every accepted message is reported 'delivered' there a moment later, as the phone would.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import time
from dataclasses import dataclass, field

from aiohttp import ClientError, ClientSession, web

from radbill.sms.whatsapp import sign

log = logging.getLogger("radbill.fakes.whatsapp")


@dataclass
class Sent:
    phone_number_id: str
    to: str
    template: str
    language: str
    parameters: list[str]
    wamid: str | None
    answered: int


@dataclass
class CloudApi:
    # phone_number_id -> (access token, app secret)
    numbers: dict[str, tuple[str, str]] = field(default_factory=dict)
    received: list[Sent] = field(default_factory=list)
    not_on_whatsapp: set[str] = field(default_factory=set)
    failures: int = 0
    timeouts: int = 0
    hold_seconds: float = 3.0
    status_url: str = ""          # where to report accepted messages delivered (the demo); empty: never
    delivery_delay: float = 1.0

    def __post_init__(self):
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._reports: set[asyncio.Task] = set()
        self.url = ""

    async def start(self, port: int = 0) -> CloudApi:
        app = web.Application()
        app.router.add_post("/{version}/{phone_number_id}/messages", self._messages)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # noqa: SLF001
        return self

    async def stop(self) -> None:
        for task in self._reports:
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(self, count: int) -> None:
        self.failures += count

    def timeout_next(self, count: int) -> None:
        self.timeouts += count

    def accepted(self) -> list[Sent]:
        return [s for s in self.received if s.wamid]

    async def _messages(self, request: web.Request) -> web.Response:
        phone = request.match_info["phone_number_id"]
        known = self.numbers.get(phone)
        if known is None or request.headers.get("Authorization") != f"Bearer {known[0]}":
            return _error(401, 190, "Invalid OAuth access token.")
        try:
            body = await request.json()
            template = body["template"]
            assert body["messaging_product"] == "whatsapp" and body["type"] == "template"
            name, language, to = template["name"], template["language"]["code"], str(body["to"])
            parameters = [p["text"] for c in template.get("components", []) for p in c["parameters"]
                          if c["type"] == "body" and p["type"] == "text"]
        except (ValueError, KeyError, TypeError, AssertionError):
            return _error(400, 100, "Invalid parameter")
        sent = Sent(phone, to, name, language, parameters, None, 0)
        self.received.append(sent)
        if self.timeouts:
            self.timeouts -= 1
            await asyncio.sleep(self.hold_seconds)
            return _error(504, 1, "held past the client's timeout")  # answered stays 0: nobody read it
        if self.failures:
            self.failures -= 1
            sent.answered = 500
            return _error(500, 1, "An unknown error occurred")
        if to in self.not_on_whatsapp:
            sent.answered = 400
            return _error(400, 131026, "Message undeliverable")
        sent.wamid, sent.answered = f"wamid.HBgM{next(self._ids):08d}", 200
        if self.status_url:
            task = asyncio.create_task(self._report_delivered(phone, sent.wamid))
            self._reports.add(task)
            task.add_done_callback(self._reports.discard)
        return web.json_response({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                                  "messages": [{"id": sent.wamid}]})

    async def _report_delivered(self, phone: str, wamid: str, tries: int = 10) -> None:
        # radbill stores the wamid when our 200 reaches it: a report that finds no message yet is sent again
        for _ in range(tries):
            await asyncio.sleep(self.delivery_delay)
            try:
                body = self.status_body(phone, wamid, "delivered")
                async with ClientSession() as session, session.post(
                        self.status_url, data=body, headers={"Content-Type": "application/json",
                                                             "X-Hub-Signature-256": sign(self.numbers[phone][1],
                                                                                         body)}) as response:
                    answer = await response.json(content_type=None) if response.status == 200 else {}
            except (ClientError, ValueError) as exc:
                log.warning("status webhook to %s failed: %s", self.status_url, exc)
                continue
            if answer.get("updated"):
                return

    def status_body(self, phone_number_id: str, wamid: str, status: str, recipient: str = "",
                    error_code: int | None = None) -> bytes:
        entry = {"id": wamid, "status": status, "timestamp": str(int(time.time())), "recipient_id": recipient}
        if error_code is not None:
            entry["errors"] = [{"code": error_code, "title": "Message undeliverable."}]
        return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
            "field": "messages", "value": {"messaging_product": "whatsapp",
                                           "metadata": {"display_phone_number": "8809600000000",
                                                        "phone_number_id": phone_number_id},
                                           "statuses": [entry]}}]}]}).encode()

    async def status(self, webhook_url: str, phone_number_id: str, wamid: str, status: str,
                     error_code: int | None = None, secret: str | None = None) -> int:
        """POST a status webhook signed with the number's app secret (or `secret`); returns our HTTP status."""
        body = self.status_body(phone_number_id, wamid, status, error_code=error_code)
        signature = sign(secret if secret is not None else self.numbers[phone_number_id][1], body)
        async with ClientSession() as session, session.post(
                webhook_url, data=body, headers={"Content-Type": "application/json",
                                                 "X-Hub-Signature-256": signature}) as response:
            return response.status


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "OAuthException", "code": code,
                                        "fbtrace_id": "AbCdEf"}}, status=status)


def read_credentials(path: str) -> tuple[dict[str, tuple[str, str]], str]:
    """The numbers ({phone number id: (token, app secret)}) and the status webhook address the runner wrote."""
    with open(path) as f:
        data = json.load(f)
    return {phone: (token, secret) for phone, (token, secret) in data["numbers"].items()}, data.get("status_url", "")


async def serve(port: int, credentials_file: str) -> None:
    numbers, status_url = read_credentials(credentials_file)
    cloud = await CloudApi(numbers=numbers, status_url=status_url).start(port)
    log.info("local WhatsApp Cloud API on %s for phone number id(s) %s", cloud.url, ", ".join(numbers))
    try:
        await asyncio.Event().wait()
    finally:
        await cloud.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="local fake WhatsApp Business Cloud API (loopback only)")
    parser.add_argument("--port", type=int, default=9102)
    parser.add_argument("--credentials-file", required=True,
                        help='JSON: {"numbers": {"<phone number id>": ["<token>", "<app secret>"]}, "status_url": ...}')
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(args.port, args.credentials_file))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
