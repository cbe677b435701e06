"""FreeRADIUS <-> Python attribute conversion for rlm_python3 (3.2.1).

Requests arrive as a tuple of (name, value) string pairs, or with `pass_all_vps = yes` as a tuple of such
tuples: (request, reply, config, session-state, proxy-request, proxy-reply), or with `pass_all_vps_dict` as a
dict of them. Replies must be tuples of string tuples: a list is silently ignored and an int is refused.
"""

from __future__ import annotations

from collections.abc import Iterable


def _unquote(value: str) -> str:
    # string attributes may be handed over quoted ("value"); integers and addresses are bare
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


def request_values(p, names: frozenset[str]) -> dict[str, str]:
    """Only the named attributes of the request list (first value of each), from either calling convention:
    the hooks run once per packet under rlm_python3's lock, and converting every attribute measurably costs."""
    if isinstance(p, dict):
        pairs = p.get("request", ())
    elif p and isinstance(p, tuple) and p[0] and isinstance(p[0], tuple) and isinstance(p[0][0], tuple):
        pairs = p[0]
    else:
        pairs = p
    out: dict[str, str] = {}
    for pair in pairs or ():
        name = pair[0]
        if name in names and name not in out:
            value = pair[-1]
            out[name] = _unquote(value) if isinstance(value, str) else str(value)
    return out


def to_tuples(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, ...], ...]:
    """A (name, value) pair is set with rlm_python3's default operator, which keeps only the first value of a
    name; a repeated name (Cisco-Account-Info: the rate service and the profile service) goes as (name, "+=",
    value) so the reply carries every value."""
    seen: set[str] = set()
    out: list[tuple[str, ...]] = []
    for name, value in pairs:
        name = str(name)
        out.append((name, "+=", str(value)) if name in seen else (name, str(value)))
        seen.add(name)
    return tuple(out)
