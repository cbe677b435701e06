"""Shared pieces for the gateway adapter tests (imported by each test module: tests/payments/conftest.py is
left to settlement): a merchant endpoint that records what gateways POST to it, an HTTP client session, and a
parser for the auto-submitting forms the gateway pages send browsers back with."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser

import aiohttp
import pytest
from aiohttp import web

from radbill.payments.fakes import serve
from radbill.payments.gateway import IntentView, ReturnUrls


@dataclass
class Merchant:
    """Our side of the wire as the gateway sees it: /ipn records IPN posts; the return URLs exist."""

    posts: list[tuple[str, dict]] = field(default_factory=list)
    url: str = ""

    def urls(self) -> ReturnUrls:
        return ReturnUrls(success=f"{self.url}/return/success", fail=f"{self.url}/return/fail",
                          cancel=f"{self.url}/return/cancel", notify=f"{self.url}/ipn")

    def ipns(self) -> list[dict]:
        return [fields for path, fields in self.posts if path == "/ipn"]

    async def _record(self, request: web.Request) -> web.Response:
        fields = dict(await request.post()) if request.method == "POST" else dict(request.query)
        self.posts.append((request.path, fields))
        return web.Response(text="<!doctype html><title>Back at the ISP</title><p id=back>Thank you</p>",
                            content_type="text/html")

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._record)  # gateways POST (SSLCommerz) or GET (Nagad) back
        runner, self.url = await serve(app, "127.0.0.1", 0)
        return runner


@pytest.fixture
async def merchant():
    found = Merchant()
    runner = await found.start()
    yield found
    await runner.cleanup()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def new_intent(amount_minor: int = 50000, currency: str = "BDT", reference: str | None = None,
               intent_id: int = 7) -> IntentView:
    return IntentView(id=intent_id, reference=reference or "RB" + secrets.token_hex(10), amount_minor=amount_minor,
                      currency=currency, customer_label="ra***ul")


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.action, self.fields = "", {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.action = attrs.get("action") or ""
        elif tag == "input" and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""


def parse_form(page: str) -> tuple[str, dict[str, str]]:
    """(action, hidden fields) of the first form on a page."""
    parser = _FormParser()
    parser.feed(page)
    return parser.action, parser.fields
