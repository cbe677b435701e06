"""Steps a customer takes on the (fake) bKash page, over real HTTP."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import aiohttp


async def press(session: aiohttp.ClientSession, checkout_url: str, button: str = "pay",
                mode: str | None = None) -> dict[str, str]:
    """Open the checkout page (choosing the fake's behaviour) and press a button; the callback's query params (or
    {} when the fake sends no redirect)."""
    async with session.get(checkout_url, params={"mode": mode} if mode else None) as resp:
        assert resp.status == 200 and "bKash" in await resp.text()
    async with session.post(f"{checkout_url}/{button}", allow_redirects=False) as resp:
        location = resp.headers.get("Location")
        if resp.status != 303 or not location:
            return {}
    return dict(parse_qsl(urlsplit(location).query))
