"""A local webhook receiver (plain HTTP on loopback) that verifies Standard Webhooks signatures with the secret it
is given, and can be told to fail (500), hang past the sender's timeout, or answer slowly."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiohttp import web

from radbill.services.webhooks import SignatureError, verify


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    verified: dict | None  # the parsed body when the signature checked out, else None
    at: float              # time.monotonic() on arrival


@dataclass
class WebhookReceiver:
    secrets: dict[str, str] = field(default_factory=dict)  # path -> secret that signs what arrives there
    modes: dict[str, str] = field(default_factory=dict)    # path -> ok | fail | hang | slow | redirect
    delay: float = 0.5                                     # seconds a 'slow' answer takes
    received: list[Received] = field(default_factory=list)

    async def start(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/{name}", self._handle)
        self._released = asyncio.Event()
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 -- the port the OS chose
        return self

    async def stop(self) -> None:
        self._released.set()  # hanging requests end now, not after the server's shutdown grace
        await self._runner.cleanup()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def at(self, name: str) -> list[Received]:
        return [r for r in self.received if r.path == f"/{name}"]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            parsed = verify(self.secrets.get(request.path, ""), dict(request.headers), body)
        except (SignatureError, ValueError):
            parsed = None
        self.received.append(Received(request.path, dict(request.headers), body, parsed, time.monotonic()))
        mode = self.modes.get(request.path, "ok")
        if mode == "hang":
            await self._released.wait()
        if mode == "slow":
            await asyncio.sleep(self.delay)
        if mode == "fail":
            return web.Response(status=500, text="receiver told to fail")
        if mode == "redirect":
            raise web.HTTPFound("http://127.0.0.1:9/elsewhere")
        if parsed is None:
            return web.Response(status=401, text="bad signature")
        return web.Response(status=204)
