"""Confirm before what cannot be undone or costs money: one server-side step for every such action.

The first POST (without confirm=yes) renders a page that states the consequences and repeats the form as hidden
fields with the session's CSRF token and confirm=yes; only that second POST acts. A JavaScript dialog alone is not
enough: a script, a double-submitted form or a page without JS would skip it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiohttp import web

from admin.web import render

CONFIRM_FIELD = "confirm"
# never repeated as hidden fields: the page adds a fresh token and the confirmation itself
_NOT_REPEATED = {"csrf_token", CONFIRM_FIELD}


def confirmed(form: Mapping) -> bool:
    """True only for the POST sent from a confirmation page."""
    return form.get(CONFIRM_FIELD) == "yes"


def ask(request: web.Request, *, title: str, consequences: Iterable[str], action: str, form: Mapping | None = None,
        yes: str, back: str, status: int = 200) -> web.Response:
    """The confirmation page: `consequences` are sentences saying what happens; `form` (a MultiDict or dict) is
    posted again to `action` with confirm=yes; `back` is where "No" goes."""
    items = form.items() if form is not None else ()
    fields = [(str(k), str(v)) for k, v in items if k not in _NOT_REPEATED]
    return render(request, "confirm.html", status=status, title=title, consequences=list(consequences),
                  action=action, fields=fields, yes=yes, back=back)
