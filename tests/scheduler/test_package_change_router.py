"""A billed package change reaches the router as the admin's change does: the preview says CoA, the dispatcher
sends it to the simulated MikroTik (real RADIUS), and a change that waited for the next period does the same
when the job applies it."""

from __future__ import annotations

from datetime import timedelta

from pyrad import packet

from radbill.services import outbox, package_change
from tests import factories as f
from tests.scheduler.test_dispatcher import online_customer, scope_of
from tests.support.scheduler import FAST


async def test_a_billed_change_previews_coa_and_the_router_gets_the_new_rate(lab, lab_db, lab_pool):
    c, session = await online_customer(lab, lab_db, lab.mikrotik)
    scope = scope_of(lab.isp.sub)
    preview = await package_change.preview_change(lab_db, scope, c["id"], lab.isp.fast_package["id"])
    assert (preview.router, preview.rate) == ("coa", "8M/20M")
    await package_change.change_package_billed(lab_db, scope, c["id"], lab.isp.fast_package["id"])
    await outbox.drain(lab_pool, FAST)
    [request] = lab.mikrotik.requests_for(session)
    assert request.code == packet.CoARequest and request.answered == packet.CoAACK
    assert session.attributes["Mikrotik-Rate-Limit"] == "8M/20M" and session.open


async def test_a_change_waiting_for_the_next_period_reaches_the_router_when_the_job_applies_it(lab, lab_db,
                                                                                             lab_pool):
    c, session = await online_customer(lab, lab_db, lab.other)
    profile = await f.billing_profile(lab_db, lab.isp.operator["id"], change_billing="next_period")
    dearer = await f.package(lab_db, lab.isp.operator["id"], price_minor=90000, download_kbps=30000, upload_kbps=9000)
    await f.insert(lab_db, "package_assignments", {"operator_id": lab.isp.sub["id"], "package_id": dearer["id"],
                                                   "wholesale_price_minor": 100})
    await lab_db.execute("UPDATE customers SET billing_profile_id = $2 WHERE id = $1", c["id"], profile["id"])
    plan = await package_change.change_package_billed(lab_db, scope_of(lab.isp.sub), c["id"], dearer["id"])
    assert (plan.terms.applies, plan.router) == ("next_period", "later")
    await outbox.drain(lab_pool, FAST)
    assert lab.other.requests_for(session) == []
    assert await package_change.apply_due_changes(lab_db, plan.applies_at - timedelta(seconds=1)) == 0
    assert await package_change.apply_due_changes(lab_db, plan.applies_at) == 1
    await outbox.drain(lab_pool, FAST)
    [request] = lab.other.requests_for(session)
    assert request.code == packet.DisconnectRequest
    assert await lab_db.fetchval("SELECT package_id FROM customers WHERE id = $1", c["id"]) == dearer["id"]
