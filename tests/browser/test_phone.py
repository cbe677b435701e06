"""Phone first: every GET page of the route registry, as each role, fits a 390×844 screen in real Chromium and its
tap targets are at least 44 px tall. Full-page screenshots go to var/artifacts/phone/<role>/<page>.png."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pytest

from admin.routing import REGISTRY
from tests import factories as f
from tests.admin.conftest import PASSWORD
from tests.browser.test_admin import login

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


def page_routes():
    """Every GET page a signed-in staff member can open (machine callbacks and the login page excluded)."""
    return [r for r in REGISTRY if r.method == "GET" and not r.access.public and "full" in r.access.stages]


async def _seed(url: str, tree) -> dict[str, dict[str, int]]:
    """tenant -> route parameter -> the id of one of that tenant's own rows (a row of every tenant table)."""
    conn = await asyncpg.connect(url)
    try:
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


def _check_page(page, base, path, shot) -> list[str] | None:
    """Problems of one page (empty: it fits and its targets are big enough), or None for a non-HTML answer."""
    # a PDF is rendered before its headers go out: a generous timeout for a busy 2-core machine
    answer = page.context.request.get(base + path, max_redirects=0, timeout=120_000)
    if not answer.headers.get("content-type", "").startswith("text/html"):
        return None  # a file, CSV, PDF, image or stylesheet: not a page (and a download would break goto)
    response = page.goto(base + path)
    found = page.evaluate(MEASURE)
    page.screenshot(path=str(shot), full_page=True)
    problems = []
    # innerWidth too: a mobile browser zooms out to show a page wider than the screen, widening the viewport
    if found["scrollWidth"] > found["innerWidth"] or found["innerWidth"] > PHONE["width"]:
        problems.append(f"{found['scrollWidth']}px wide (viewport {found['innerWidth']}px)")
    if found["small"]:
        problems.append("small tap targets: " + ", ".join(found["small"]))
    return [f"{path} ({response.status}): {p}" for p in problems]


def _sweep(browser, base, login_name: str | None, paths: dict[str, str], folder) -> tuple[int, list[str]]:
    """Check `paths` (screenshot name -> path) in one phone-sized browser, signed in as `login_name` (or not)."""
    folder.mkdir(parents=True, exist_ok=True)
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = phone.new_page()
    if login_name:
        login(page, base, login_name, PASSWORD)
        page.wait_for_selector("h1:has-text('Dashboard')")
    problems, checked = [], 0
    for name, path in paths.items():
        found = _check_page(page, base, path, folder / f"{name}.png")
        if found is not None:
            checked += 1
            problems += found
    phone.close()
    return checked, problems


def _desktop_problems(browser, base, folder) -> list[str]:
    """The phone rules must not cost the desktop its layout: a permanent sidebar, no ☰."""
    desktop = browser.new_context(viewport={"width": 1280, "height": 800})
    page = desktop.new_page()
    login(page, base, "opa", PASSWORD)
    page.wait_for_selector("h1:has-text('Dashboard')")
    page.goto(f"{base}/customers")
    page.screenshot(path=str(folder / "desktop-customers.png"), full_page=True)
    problems = []
    if page.locator("label.burger").is_visible():
        problems.append("desktop: the ☰ menu button shows beside the permanent sidebar")
    if not page.locator("nav.sidebar a[href='/customers']").is_visible():
        problems.append("desktop: the sidebar is hidden")
    desktop.close()
    return problems


def test_every_page_fits_a_phone_for_every_role(admin_server, browser, artifacts, fresh_db_url):
    base, tree = admin_server
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API already runs an event loop in this thread
        ids = pool.submit(asyncio.run, _seed(fresh_db_url, tree)).result()
    routes = page_routes()
    assert len(routes) > 40  # the registry is really being read
    checked, problems = _sweep(browser, base, None, {"login": "/login"}, artifacts / "phone" / "signed_out")
    problems = [f"signed out {p}" for p in problems]
    for role, (login_name, tenant) in ROLES.items():
        paths = {_shot_name(r): _path(r, ids[tenant]) for r in routes}
        count, found = _sweep(browser, base, login_name, paths, artifacts / "phone" / role)
        checked += count
        problems += [f"{role} {p}" for p in found]
    assert checked > 4 * 40
    problems += _desktop_problems(browser, base, artifacts / "phone")
    assert not problems, f"{len(problems)} page(s) do not fit a phone:\n" + "\n".join(problems)
