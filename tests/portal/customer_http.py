"""Logging a portal customer in over real HTTP, for the portal's page tests."""

import re

from tests.support.portal import Portal


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


async def log_in(p: Portal, username: str, password: str) -> str:
    """Log in with username + password; returns the session's CSRF token (from the home page)."""
    async with p.http.get(f"{p.url}/login") as r:
        token = csrf_of(await r.text())
    async with p.http.post(f"{p.url}/login", data={"csrf_token": token, "username": username, "password": password},
                           headers={"Origin": p.url}, allow_redirects=False) as r:
        assert r.status == 303, await r.text()
    async with p.http.get(f"{p.url}/") as r:
        assert r.status == 200
        return csrf_of(await r.text())


async def get(p: Portal, path: str, **kw):
    async with p.http.get(p.url + path, allow_redirects=False, **kw) as r:
        return r.status, await r.read(), r.headers


async def post(p: Portal, path: str, data: dict):
    async with p.http.post(p.url + path, data=data, headers={"Origin": p.url}, allow_redirects=False) as r:
        return r.status, await r.text(), r.headers
