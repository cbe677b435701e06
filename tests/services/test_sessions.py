"""Sessions from radacct (radbill.services.sessions): scope, state filter and keyset pages that neither skip nor
repeat when sessions share a start time."""

from datetime import UTC, datetime, timedelta

import pytest

from radbill.errors import NotFound
from radbill.services.sessions import list_sessions
from tests.billing.helpers import customer, isp, scope_of

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


async def session(db, username: str, start: datetime, stop: datetime | None = None) -> int:
    return await db.fetchval(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctstoptime,"
        " acctinputoctets, acctoutputoctets) VALUES (md5(random()::text), md5(random()::text), $1, '10.0.0.1', $2, $3,"
        " 10, 20) RETURNING radacctid", username, start, stop)


@pytest.fixture
async def world(db):
    w = await isp(db, credit_limit_minor=10**9)
    w.mine = await customer(db, w)  # the sub-operator's
    w.other_sub = await customer(db, w, owner=w.operator)  # the operator's own: outside the sub's scope
    ids = {}
    for i in range(5):  # two pairs share a start time: the keyset's tie-break must hold
        start = T0 + timedelta(minutes=10 * (i // 2))
        ids[i] = await session(db, w.mine["username"], start, None if i == 4 else start + timedelta(minutes=5))
    w.foreign_session = await session(db, w.other_sub["username"], T0)
    w.session_ids = ids
    return w


async def test_pages_of_two_list_every_session_once_newest_first(db, world):
    seen, before = [], None
    for _ in range(5):
        rows, before = await list_sessions(db, scope_of(world.sub, "sub_operator"), limit=2, before=before)
        seen += [r["id"] for r in rows]
        if before is None:
            break
    assert sorted(seen) == sorted(world.session_ids.values())
    assert len(seen) == len(set(seen)) == 5
    starts = [(r["started_at"], r["id"]) for r in await db.fetch(
        "SELECT acctstarttime AS started_at, radacctid AS id FROM radacct WHERE radacctid = ANY($1)", seen)]
    assert [k[1] for k in sorted(starts, reverse=True)] == seen


async def test_open_and_closed_and_one_customer(db, world):
    sub = scope_of(world.sub, "sub_operator")
    open_rows, _ = await list_sessions(db, sub, state="open")
    assert [r["id"] for r in open_rows] == [world.session_ids[4]]
    assert open_rows[0]["stopped_at"] is None and open_rows[0]["customer_id"] == world.mine["id"]
    closed, _ = await list_sessions(db, sub, state="closed", customer_id=world.mine["id"])
    assert len(closed) == 4 and all(r["stopped_at"] for r in closed)
    # the operator sees its own customer's session and the sub-operator's
    everything, _ = await list_sessions(db, scope_of(world.operator))
    assert world.foreign_session in {r["id"] for r in everything} and len(everything) == 6


async def test_a_foreign_customer_is_not_found_and_its_sessions_never_listed(db, world):
    sub = scope_of(world.sub, "sub_operator")
    with pytest.raises(NotFound):
        await list_sessions(db, sub, customer_id=world.other_sub["id"])
    rows, _ = await list_sessions(db, sub)
    assert world.foreign_session not in {r["id"] for r in rows}
