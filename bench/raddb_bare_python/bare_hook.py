"""The smallest rlm_python3 authorize there can be: find User-Name, one dict lookup, a constant reply.

Every rlm_python3 call is serialised (one interpreter, the GIL), so this server's rate is the ceiling of any
Python policy inside FreeRADIUS on this machine: bench/radius.py prints radbill / this. No radbill import here.
"""

import os

RLM_MODULE_REJECT, RLM_MODULE_UPDATED = 0, 8  # radiusd's values, without importing it
USERS: dict[str, tuple] = {}
REPLY: tuple = ()


def instantiate(_p=None):
    """BENCH_USERS_TSV: 'name<TAB>password' lines, the users bench/radius.py seeded."""
    global REPLY
    with open(os.environ["BENCH_USERS_TSV"]) as f:
        for line in f:
            name, password = line.rstrip("\n").split("\t")
            USERS[name] = (("Cleartext-Password", password),)
    REPLY = (("Mikrotik-Rate-Limit", os.environ["BENCH_RATE_LIMIT"]),
             ("Acct-Interim-Interval", os.environ["BENCH_ACCT_INTERIM"]))
    return 0


def authorize(p):
    for name, value in p:
        if name == "User-Name":
            config = USERS.get(value[1:-1] if value[:1] == '"' else value)
            if config is None:
                return RLM_MODULE_REJECT
            return RLM_MODULE_UPDATED, {"reply": REPLY, "config": config}
    return RLM_MODULE_REJECT
