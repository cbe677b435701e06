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
        self.posts.append((request.path, dict(await request.post())))
        return web.Response(text="OK")


@pytest.fixture
async def merchant():
    found = Merchant()
    app = web.Application()
    app.router.add_post("/{tail:.*}", found._record)
    runner, found.url = await serve(app, "127.0.0.1", 0)
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
