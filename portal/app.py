"""The portal application: `python -m portal` serves it on RADBILL_ADMIN_HOST:RADBILL_PORTAL_PORT.

It never reads an admin session cookie. Customers log in with their own sessions (portal/session.py) and their
pages run in the one-customer database scope. A pay page is also reached without login, by an unguessable pay-link
token, a receipt by an unguessable intent reference: those run as the system (row-level scope SYSTEM), and every
lookup is by such a token, so one customer's link shows nothing of another's.
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import jinja2
from aiohttp import web

from portal import account, billing, data_topups, packages, session, tickets, views, walled
from radbill import i18n, localize, proxies
from radbill.config import Config
from radbill.db.pool import SYSTEM, create_pool
from radbill.services.fair_usage import gigabytes
from radbill.services.portal_home import human_bytes

HERE = Path(__file__).resolve().parent
log = logging.getLogger("radbill.portal")


def jinja_environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             extensions=["jinja2.ext.i18n"])
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)
    env.filters["money"] = lambda minor, currency="BDT": localize.money(minor or 0, currency.strip())
    env.filters["localtime"] = localize.localtime
    env.filters["long_date"] = localize.long_date
    env.filters["day_month"] = localize.day_month
    env.filters["digits"] = lambda value: localize.digits(str(value))
    env.filters["bytes"] = lambda n: localize.digits(human_bytes(n))
    env.globals["gigabytes"] = gigabytes  # a pack's size as the catalogue writes it (20 GB)
    return env


async def _open(app: web.Application) -> None:
    if "pool" not in app:
        app["pool"] = await create_pool(app["config"].database_url.reveal(), max_size=10, default_scope=SYSTEM)
        app["own_pool"] = True
    app["http"] = aiohttp.ClientSession()


async def _close(app: web.Application) -> None:
    await app["http"].close()
    if app.get("own_pool"):
        await app["pool"].close()


def create_app(config: Config, pool=None) -> web.Application:
    """The portal; `pool` (tests, bench) is used instead of opening one from the config."""
    app = web.Application(middlewares=[views.security_headers, views.errors, session.access_control], client_max_size=64 * 1024)
    app["config"] = config
    app["trusted_proxies"] = proxies.parse_networks(config.trusted_proxies)
    i18n.load_catalogs()  # without it every page is English whatever the customer chose
    app["jinja"] = jinja_environment()
    if pool is not None:
        app["pool"] = pool
    app.on_startup.append(_open)
    app.on_cleanup.append(_close)
    views.add_routes(app)
    account.add_routes(app)
    tickets.add_routes(app)
    walled.add_routes(app)
    packages.add_routes(app)
    data_topups.add_routes(app)
    billing.add_routes(app)
    app.router.add_static("/static/", HERE / "static", name="static")
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = Config.from_env()
    log.info("portal on http://%s:%s (public address %s)", config.admin_host, config.portal_port,
             config.portal_base_url)
    web.run_app(create_app(config), host=config.admin_host, port=config.portal_port, print=None, access_log=None)


if __name__ == "__main__":
    main()
