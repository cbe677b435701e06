"""The admin application: `python -m admin` serves it on RADBILL_ADMIN_HOST:RADBILL_ADMIN_PORT."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import jinja2
from aiohttp import web

import admin.views  # noqa: F401  (registers the routes)
from admin import api
from admin import web as pipeline
from admin.api import guard as api_guard
from admin.routing import add_routes, allows, may
from radbill import i18n, localize
from radbill.config import Config
from radbill.db.pool import create_pool
from radbill.policy import state_label

HERE = Path(__file__).resolve().parent
log = logging.getLogger("radbill.admin")


# Pages and PDFs format through radbill.localize (current locale, the operator's digits); money keeps
# radbill.billing.money.format_minor's rule (the currency decides the decimals).
money = localize.money
localtime = localize.localtime


@jinja2.pass_context
def may_in_template(context, path: str, method: str = "GET") -> bool:
    """`{% if may("/customers/new") %}`: admin.routing.may, the one permission rule, for the page's scope."""
    return may(context.get("scope"), path, method)


def jinja_environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             extensions=["jinja2.ext.i18n"])
    # {{ _("...") }}, {% trans %}: radbill.i18n's current locale (set per request); newstyle escapes variables
    env.install_gettext_callables(i18n.gettext, i18n.plural_form, newstyle=True)
    env.filters["money"] = money
    env.filters["localtime"] = localtime
    env.filters["number"] = localize.number
    env.filters["long_date"] = localize.long_date
    env.filters["month"] = localize.month
    env.filters["day_month"] = localize.day_month
    env.globals["current_locale"] = i18n.current_locale
    env.globals["language_names"] = i18n.LANGUAGE_NAMES
    env.globals["may"] = may_in_template
    env.globals["allows"] = allows  # {% if allows(scope, "void_submit") %}: the route's own access rule
    env.globals["new_idempotency_key"] = lambda: secrets.token_urlsafe(24)  # one per rendered payment form
    env.globals["state_label"] = state_label  # a display state's name in the reader's language ("Expired")
    return env


async def _open_pool(app: web.Application) -> None:
    app["pool"] = await create_pool(app["config"].database_url.reveal(), max_size=10)


async def _close_pool(app: web.Application) -> None:
    await app["pool"].close()


def create_app(config: Config) -> web.Application:
    i18n.load_catalogs()
    app = web.Application(middlewares=[pipeline.security_headers, api_guard.middleware, pipeline.errors,
                                       pipeline.access_control],
                          client_max_size=2 * 1024 * 1024)
    app["config"] = config
    app["jinja"] = jinja_environment()
    app.on_startup.append(_open_pool)
    app.on_cleanup.append(_close_pool)
    add_routes(app)
    api.install(app)  # /api/v1: its own routes, token auth and problem+json (admin.api.guard)
    app.router.add_static("/static/", HERE / "static", name="static")
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = Config.from_env()
    log.info("admin on http://%s:%s", config.admin_host, config.admin_port)
    # With RADBILL_ADMIN_WORKERS > 1, `radbill run` starts that many of this process on one port: the kernel
    # spreads connections over them (SO_REUSEPORT). Nothing of a request outlives it in a worker; the API's
    # per-client rate-limit buckets are then kept in Postgres for all of them (admin/api/ratelimit.py).
    web.run_app(create_app(config), host=config.admin_host, port=config.admin_port, print=None,
                access_log=None, reuse_port=config.admin_workers > 1)


if __name__ == "__main__":
    main()
