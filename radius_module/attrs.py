"""FreeRADIUS <-> Python attribute conversion for rlm_python3 (3.2.1).

Requests arrive as a tuple of (name, value) string pairs, or with `pass_all_vps = yes` as a tuple of such
tuples: (request, reply, config, session-state, proxy-request, proxy-reply). Replies must be tuples of
string tuples: a list is silently ignored and an int is refused.
"""

from __future__ import annotations

from collections.abc import Iterable

LISTS = ("request", "reply", "config", "session-state", "proxy-request", "proxy-reply")


def _unquote(value: str) -> str:
    # string attributes may be handed over quoted ("value"); integers and addresses are bare
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


def pairs_to_dict(pairs: Iterable) -> dict[str, str]:
    """First value of each attribute (enough for every attribute radbill reads)."""
    out: dict[str, str] = {}
    for pair in pairs or ():
        name, value = pair[0], pair[-1]
        out.setdefault(name, _unquote(value) if isinstance(value, str) else str(value))
    return out


def split_lists(p) -> dict[str, dict[str, str]]:
    """{'request': {...}, 'reply': {...}, 'config': {...}} from either calling convention."""
    if isinstance(p, dict):
        return {name: pairs_to_dict(p.get(name, ())) for name in LISTS}
    if p and isinstance(p, tuple) and p[0] and isinstance(p[0], tuple) and p[0] and isinstance(p[0][0], tuple):
        return {name: pairs_to_dict(lst) for name, lst in zip(LISTS, p, strict=False)}
    return {"request": pairs_to_dict(p)}


def to_tuples(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(name), str(value)) for name, value in pairs)
