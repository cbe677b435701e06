"""A Postgres restart: FreeRADIUS keeps answering from the snapshot, then catches up after reconnecting.
(`own_cluster`: tests/radius/conftest.py.)"""

import asyncio

import psycopg

from radbill.passwords import generate_nas_secret
from tests.support.radius import add_customer, running_radius, seed
from tests.support.waiting import wait_until


def login(server, username, password):
    client = server.client(timeout=1.0)
    return client.send(client.access_request(username, password))


def test_postgres_restart_keeps_answering_and_catches_up(own_cluster):
    cluster, url, base = own_cluster
    secret = generate_nas_secret()
    isp = asyncio.run(seed(url, secret))
    asyncio.run(add_customer(url, isp, "steady", radius_password="pw1"))
    with running_radius(url, base / "radius", secret, isp) as server:
        assert wait_until(lambda: login(server, "steady", "pw1").accepted)

        cluster.stop()
        for _ in range(5):  # answered from memory while the database is down
            reply = login(server, "steady", "pw1")
            assert reply is not None and reply.accepted
        assert login(server, "steady", "bad").code == "Access-Reject"

        cluster.start(log=base / "postgres.log", settings={"fsync": "off"})
        asyncio.run(add_customer(url, isp, "newcomer", radius_password="pw2"))
        # the worker reconnects (backoff <= 10 s) and reloads everything it may have missed
        assert wait_until(lambda: login(server, "newcomer", "pw2").accepted, timeout=20, interval=0.2)
        assert "lost the database" in server.log

        def logged():  # the post-auth log written while the database was down is loaded after the reconnect
            with psycopg.connect(url) as conn:
                return dict(conn.execute("SELECT reason, count(*) FROM radpostauth WHERE username = 'steady'"
                                         " GROUP BY reason").fetchall())
        assert wait_until(lambda: (r := logged()).get("ok", 0) >= 6 and r.get("bad_credentials") == 1, timeout=5,
                          interval=0.1), logged()
