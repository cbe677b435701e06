"""Router edits restart FreeRADIUS only when the generated clients file changes (a restart drops requests)."""

from bench.pacer import Pacer, summary
from bench.packets import ACCESS_ACCEPT
from radbill.passwords import generate_nas_secret
from tests import factories as f
from tests.radius.test_authorize import login_when, new_customer
from tests.support.waiting import wait_until


def handled_after(radius, seen: int) -> bool:
    return wait_until(lambda: radius.service.nas_changes_handled > seen, timeout=10, interval=0.02)


async def test_router_edits_restart_freeradius_only_when_its_clients_change(radius, radius_db):
    c = await new_customer(radius_db, radius)
    assert login_when(radius, c["username"], c["radius_password"], lambda r: r.accepted)
    seen = radius.service.nas_changes_handled
    other = await f.insert(radius_db, "nas", {"nasname": "127.0.0.9", "shortname": "reload-nas",
                                              "secret": generate_nas_secret(), "operator_id": radius.isp.operator["id"]})
    assert handled_after(radius, seen)  # a new router is a new client: FreeRADIUS restarts
    pid, restarts = radius.service.process.pid, radius.service.restarts

    users = [(c["username"], c["radius_password"], ACCESS_ACCEPT)]
    with Pacer("127.0.0.1", radius.settings.auth_port, radius.secret, users, rate=200) as pacer:
        for change in ("description = 'rack 2'", "coa_port = 3800", "api_host = '10.0.0.9'"):
            seen = radius.service.nas_changes_handled
            await radius_db.execute(f"UPDATE nas SET {change} WHERE id = $1", other["id"])  # fixed statements
            assert handled_after(radius, seen), change
    figures = summary(pacer.stop())
    assert (radius.service.process.pid, radius.service.restarts) == (pid, restarts)
    assert figures["sent"] > 100 and figures["unanswered"] == 0 and figures["wrong"] == 0, figures

    seen = radius.service.nas_changes_handled
    await radius_db.execute("UPDATE nas SET secret = $1 WHERE id = $2", generate_nas_secret(), other["id"])
    assert handled_after(radius, seen)
    assert radius.service.restarts == restarts + 1 and radius.service.process.pid != pid
    assert login_when(radius, c["username"], c["radius_password"], lambda r: r.accepted)
