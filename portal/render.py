"""Rendering a portal page: every template gets the request, the customer's session (or None), the CSRF token
its forms carry, the language and the operator's header (name, contact) of a logged-in customer, and whether
the nav offers data top-ups."""

from __future__ import annotations

from aiohttp import web

from radbill import i18n


def render(request: web.Request, template: str, status: int = 200, **context) -> web.Response:
    session = request.get("portal_session")
    token = session.csrf_token if session is not None else request.get("login_csrf", "")
    context.setdefault("isp", request.get("portal_isp"))
    header = request.get("portal_isp")  # pages may pass their own `isp` (documents): the nav asks the header
    context.setdefault("nav_data_topups", bool(header is not None and header["data_capped"]))
    html = request.app["jinja"].get_template(template).render(
        request=request, session=session, csrf_token=token, locale=i18n.current_locale(), locales=i18n.LOCALES,
        **context)
    return web.Response(text=html, status=status, content_type="text/html")


def redirect(path: str) -> web.Response:
    """A 303 to a local path (a response, not a raised HTTPException, so cookies can be set on it)."""
    return web.Response(status=303, headers={"Location": path})
