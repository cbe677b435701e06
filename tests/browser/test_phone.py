"""Phone first: every GET page of the route registry (files excepted), as each role, fits a 390×844 screen in real
Chromium and its tap targets are at least 44 px tall. A page that fails is saved as a full-page screenshot in
var/artifacts/phone/<role>/<page>.png (every page when RADBILL_PHONE_SHOTS=1: 233 screenshots cost a minute)."""

from __future__ import annotations

import asyncio
import os
import re

import asyncpg
import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from admin.routing import REGISTRY
from tests import factories as f
from tests.support.admin import PASSWORD
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}
TAP_MIN = 44
# role -> (login, the tenant whose rows fill the route's {parameters})
ROLES = {"group_admin": ("admin", "op_a"), "operator": ("opa", "op_a"), "sub_operator": ("suba1", "sub_a1"),
         "manager": ("mgr_all", "op_a")}
PARAM = re.compile(r"\{(\w+)(?::[^{}]*)?\}")
# Tap targets checked: every link, button and menu label in the top bar, every menu link (the sidebar is the
# phone's slide-in menu), every visible submit button and every visible text field/select (not checkboxes or
# radios: their label is the target). Links inside tables and text are not checked.
MEASURE = """() => {
  const targets = 'header.topbar a, header.topbar button, header.topbar label, nav.sidebar a, '
    + 'button:not([type=button]):not([type=reset]), input[type=submit], '
    + 'input:not([type=hidden]):not([type=checkbox]):not([type=radio]):not([type=submit]), select, textarea';
  const small = [];
  for (const el of document.querySelectorAll(targets)) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || getComputedStyle(el).visibility === 'hidden') continue;
    if (box.height < TAP_MIN - 0.5) {
      const name = (el.getAttribute('name') || el.textContent || el.value || '').replace(/\\s+/g, ' ').trim().slice(0, 30);
      small.push(`${el.tagName.toLowerCase()} "${name}" ${Math.round(box.height)}px`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, small};
}""".replace("TAP_MIN", str(TAP_MIN))


# A route whose path names a file type answers a file (export, PDF, import template), never a page: not drawn.
# Others that answer files (a receipt, a logo) are told apart by their answer's content type below.
FILE_SUFFIXES = (".csv", ".xlsx", ".pdf")


def page_routes():
    """Every GET page a signed-in staff member can open (machine callbacks, the login page and files excluded)."""
    return [r for r in REGISTRY if r.method == "GET" and not r.access.public and "full" in r.access.stages
            and not r.path.endswith(FILE_SUFFIXES)]


async def _seed(url: str, tree) -> dict[str, dict[str, int]]:
    """tenant -> route parameter -> the id of one of that tenant's own rows (a row of every tenant table)."""
    conn = await asyncpg.connect(url)
    try:
        # two RADIUS nodes, one not answering: the System page's node table is drawn with its longest cells
        await conn.execute("INSERT INTO radius_nodes (instance, name, probed_at, answered_at, round_trip_ms) VALUES"
                           " ('phone-1', 'radius-primary.example.net', now(), now(), 0.8),"
                           " ('phone-2', 'radius-secondary.example.net', now(), now() - interval '90 seconds', 1.2)")
        out = {}
        for name, login_name in (("op_a", "opa"), ("sub_a1", "suba1")):
            op = tree.ops[name]
            pkg = await f.package(conn, op["id"], name=f"Home {name}")
            profile = await f.billing_profile(conn, op["id"])
            customer = await f.customer(conn, op["id"], pkg["id"], profile["id"], name=f"Customer of {name}")
            rows = await f.tenant_rows(conn, op, customer, tree.accounts[login_name], pkg["id"], profile["id"])
            out[name] = {**rows, "customer_id": customer["id"], "package_id": pkg["id"], "profile_id": profile["id"],
                         "operator_id": tree.ops["sub_a1"]["id"]}
        return out
    finally:
        await conn.close()


def _path(route, ids: dict[str, int]) -> str:
    return PARAM.sub(lambda m: str(ids[m.group(1)]), route.path)


def _shot_name(route) -> str:
    return re.sub(r"[^a-z0-9]+", "-", PARAM.sub(lambda m: m.group(1), route.path).lower()).strip("-") or "dashboard"


async def _check_page(page, base, path, shot) -> list[str] | None:
    """Problems of one page (empty: it fits and its targets are big enough), or None for a non-HTML answer."""
    # a file (PDF, CSV, XLSX, an image) is not a page: navigating to one starts a download or shows the file, and
    # is told apart by the first answer's content type (a redirect's own, like a request that follows none). Not
    # asked beforehand: that drew every page twice. A PDF is rendered before its headers go out, hence the timeout.
    try:
        response = await page.goto(base + path, timeout=120_000)
    except PlaywrightError as exc:
        if "Download is starting" in exc.message:
            return None  # the browser saves it: a file after all
        raise
    first = response.request
    while first.redirected_from is not None:
        first = first.redirected_from
    answer = response if first is response.request else await first.response()
    if not answer.headers.get("content-type", "").startswith("text/html"):
        return None
    found = await page.evaluate(MEASURE)
    problems = []
    # innerWidth too: a mobile browser zooms out to show a page wider than the screen, widening the viewport
    if found["scrollWidth"] > found["innerWidth"] or found["innerWidth"] > PHONE["width"]:
        problems.append(f"{found['scrollWidth']}px wide (viewport {found['innerWidth']}px)")
    if found["small"]:
        problems.append("small tap targets: " + ", ".join(found["small"]))
    if problems or os.environ.get("RADBILL_PHONE_SHOTS"):
        await page.screenshot(path=str(shot), full_page=True)
    return [f"{path} ({response.status}): {p}" for p in problems]


async def _signed_in(browser, base, login_name: str | None, viewport: dict):
    context = await browser.new_context(viewport=viewport, is_mobile=viewport == PHONE, has_touch=viewport == PHONE)
    page = await context.new_page()
    if login_name:
        await page.goto(f"{base}/login")
        await page.fill("input[name=username]", login_name)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button:has-text('Log in')")
        await page.wait_for_selector("h1:has-text('Dashboard')")
    return context, page


async def _sweep(browser, base, label: str, login_name: str | None, paths: dict[str, str], folder):
    """Check `paths` (screenshot name -> path) in one phone-sized browser, signed in as `login_name` (or not)."""
    folder.mkdir(parents=True, exist_ok=True)
    context, page = await _signed_in(browser, base, login_name, PHONE)
    problems, checked = [], 0
    for name, path in paths.items():
        found = await _check_page(page, base, path, folder / f"{name}.png")
        if found is not None:
            checked += 1
            problems += [f"{label} {p}" for p in found]
    await context.close()
    return checked, problems


async def _desktop_problems(browser, base, folder) -> list[str]:
    """The phone rules must not cost the desktop its layout: a permanent sidebar, no ☰."""
    context, page = await _signed_in(browser, base, "opa", {"width": 1280, "height": 800})
    await page.goto(f"{base}/customers")
    await page.screenshot(path=str(folder / "desktop-customers.png"), full_page=True)
    problems = []
    if await page.locator("label.burger").is_visible():
        problems.append("desktop: the ☰ menu button shows beside the permanent sidebar")
    if not await page.locator("nav.sidebar a[href='/customers']").is_visible():
        problems.append("desktop: the sidebar is hidden")
    await context.close()
    return problems


async def test_every_page_fits_a_phone_for_every_role(admin_server, artifacts, fresh_db_url):
    base, tree = admin_server
    ids = await _seed(fresh_db_url, tree)
    routes = page_routes()
    assert len(routes) > 40  # the registry is really being read
    # the API's reference page is public and outside the admin's registry: seen at 390 px here too
    sweeps = [("signed out", None, {"login": "/login", "api_docs": "/api/v1/docs"},
               artifacts / "phone" / "signed_out")]
    for role, (login_name, tenant) in ROLES.items():
        paths = {_shot_name(r): _path(r, ids[tenant]) for r in routes}
        sweeps.append((role, login_name, paths, artifacts / "phone" / role))
    async with async_playwright() as playwright:
        # the roles in parallel: the admin renders one page while Chromium draws another (2 cores)
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        results = await asyncio.gather(*(_sweep(browser, base, *sweep) for sweep in sweeps))
        desktop = await _desktop_problems(browser, base, artifacts / "phone")
        await browser.close()
    checked = sum(count for count, _ in results)
    problems = [p for _, found in results for p in found] + desktop
    assert checked > 4 * 40
    assert not problems, f"{len(problems)} page(s) do not fit a phone:\n" + "\n".join(problems)
