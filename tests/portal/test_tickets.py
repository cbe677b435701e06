"""Portal support tickets over real HTTP and Postgres: open one with a photo, the photo's type checked by content
and its size bounded (nothing stored when refused), the thread with a staff reply, reply, close and reopen, and
another customer's ticket and photo answered 404."""

import re

import aiohttp

from radbill.services import tickets
from radbill.services.uploads import MAX_PHOTO_BYTES
from radbill.tenancy import CustomerScope, Scope
from tests.billing.helpers import customer
from tests.support.portal import Portal

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


async def login(p: Portal) -> str:
    """Log the fixture's customer in; returns the session's CSRF token."""
    c = p.w.customer
    async with p.http.get(f"{p.url}/login") as r:
        token = _csrf(await r.text())
    async with p.http.post(f"{p.url}/login", data={"csrf_token": token, "username": c["username"],
                           "password": c["radius_password"]}, headers={"Origin": p.url}, allow_redirects=False) as r:
        assert r.status == 303
    async with p.http.get(f"{p.url}/tickets") as r:
        assert r.status == 200
        return _csrf(await r.text())


def ticket_form(csrf: str, photo: bytes | None = None, filename: str = "router.png", **fields) -> aiohttp.FormData:
    form = aiohttp.FormData()
    values = {"csrf_token": csrf, "category": "no_internet", "subject": "No internet since morning",
              "text": "The red light is on."} | fields
    for key, value in values.items():
        form.add_field(key, value)
    if photo is not None:
        form.add_field("photo", photo, filename=filename, content_type="image/png")
    return form


async def post(p: Portal, path: str, data):
    async with p.http.post(f"{p.url}{path}", data=data, headers={"Origin": p.url}, allow_redirects=False) as r:
        return r.status, await r.text(), r.headers


async def get(p: Portal, path: str):
    async with p.http.get(f"{p.url}{path}", allow_redirects=False) as r:
        return r.status, await r.read(), r.headers


async def counts(p: Portal) -> tuple[int, int, int]:
    return tuple(await p.owner.fetchrow("SELECT (SELECT count(*) FROM tickets), (SELECT count(*) FROM ticket_messages),"
                                        " (SELECT count(*) FROM ticket_attachments)"))


async def test_open_a_ticket_with_a_photo_then_the_thread_reply_close_and_reopen(portal: Portal, tmp_path):
    p = portal
    csrf = await login(p)
    status, page, _ = await get(p, "/tickets")
    assert status == 200 and b'id="no-tickets"' in page
    status, page, _ = await get(p, "/tickets/new")
    assert status == 200 and b'name="category"' in page and b'enctype="multipart/form-data"' in page
    status, _, headers = await post(p, "/tickets/new", ticket_form(csrf, PNG))
    assert status == 303, _
    ticket_id = int(re.match(r"/tickets/(\d+)\?opened=1", headers["Location"]).group(1))
    status, page, _ = await get(p, headers["Location"])
    page = page.decode()
    assert status == 200 and "The red light is on." in page and "Your ticket is open" in page
    photo_id = int(re.search(r'src="/tickets/photos/(\d+)"', page).group(1))
    status, body, headers = await get(p, f"/tickets/photos/{photo_id}")
    assert (status, body, headers["Content-Type"]) == (200, PNG, "image/png")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert len(list((tmp_path / "uploads").iterdir())) == 1  # stored outside any web root, by content hash

    status, listing, _ = await get(p, "/tickets")
    assert f'href="/tickets/{ticket_id}"' in listing.decode() and "No internet since morning" in listing.decode()

    # staff answer (the admin's write path): the customer sees it in the thread, the ticket waits for them
    staff = Scope.system(p.w.sub["id"], str(p.w.sub["path"]))
    await tickets.reply(p.owner, staff, ticket_id, "A technician comes at 4 pm.")
    status, page, _ = await get(p, f"/tickets/{ticket_id}")
    assert "A technician comes at 4 pm." in page.decode() and "Waiting for the customer" in page.decode()

    status, _, headers = await post(p, f"/tickets/{ticket_id}/reply", ticket_form(csrf, text="Thanks, I am home."))
    assert status == 303 and headers["Location"].endswith("?replied=1")
    status, _, _ = await post(p, f"/tickets/{ticket_id}/status", {"csrf_token": csrf, "action": "close"})
    assert await p.owner.fetchval("SELECT status FROM tickets WHERE id = $1", ticket_id) == "closed"
    status, _, _ = await post(p, f"/tickets/{ticket_id}/status", {"csrf_token": csrf, "action": "reopen"})
    assert await p.owner.fetchval("SELECT status FROM tickets WHERE id = $1", ticket_id) == "open"
    assert await counts(p) == (1, 3, 1)


async def test_a_photo_of_the_wrong_type_is_refused_and_nothing_is_stored(portal: Portal, tmp_path):
    p = portal
    csrf = await login(p)
    # named .png and sent as image/png, but it is an HTML page: the bytes decide
    status, page, _ = await post(p, "/tickets/new", ticket_form(csrf, b"<html><script>alert(1)</script></html>"))
    assert status == 422 and "Only JPEG, PNG or WebP photos" in page
    assert "The red light is on." in page  # the text the customer wrote is kept
    assert await counts(p) == (0, 0, 0)
    # another site's form, token and all, is refused before its body is read
    async with p.http.post(f"{p.url}/tickets/new", data=ticket_form(csrf, PNG),
                           headers={"Origin": "http://evil.example"}, allow_redirects=False) as r:
        assert r.status == 403
    assert await counts(p) == (0, 0, 0)
    assert not (tmp_path / "uploads").exists() or not list((tmp_path / "uploads").iterdir())


async def test_a_photo_over_2_mb_is_refused_with_a_clear_message_and_nothing_is_stored(portal: Portal, tmp_path):
    p = portal
    csrf = await login(p)
    # just over the limit: read, judged by the service, the form shown again with its text
    status, page, _ = await post(p, "/tickets/new", ticket_form(csrf, PNG + b"\x00" * (MAX_PHOTO_BYTES - len(PNG) + 1)))
    assert status == 422 and "larger than 2 MB" in page and "The red light is on." in page
    # far over: refused before it is read, with a page that says so (never a bare 413 or a 500)
    status, page, _ = await post(p, "/tickets/new", ticket_form(csrf, PNG + b"\x00" * (3 * 1024 * 1024)))
    assert status == 413 and "larger than 2 MB" in page
    # the same bound on a reply
    staff_ticket = await tickets.open_ticket(p.owner, Scope.system(p.w.sub["id"], str(p.w.sub["path"])),
                                             p.w.customer["id"], "slow", "Slow", "Slow at night.")
    status, page, _ = await post(p, f"/tickets/{staff_ticket['id']}/reply",
                                 ticket_form(csrf, PNG + b"\x00" * (3 * 1024 * 1024), text="photo"))
    assert status == 413 and "larger than 2 MB" in page
    assert await counts(p) == (1, 1, 0)
    assert not (tmp_path / "uploads").exists() or not list((tmp_path / "uploads").iterdir())
    # an ordinary form stays bounded at 64 KB: only photo routes read more
    status, _, _ = await post(p, "/logout", {"csrf_token": csrf, "pad": "x" * (128 * 1024)})
    assert status == 413


async def test_another_customers_ticket_and_photo_are_not_found(portal: Portal, tmp_path):
    p = portal
    other = await customer(p.owner, p.w, username="neighbour")
    theirs = CustomerScope(other["id"], other["operator_id"], str(p.w.sub["path"]))
    ticket = await tickets.open_ticket(p.owner, theirs, other["id"], "billing", "Wrong bill", "Please check.")
    await tickets.reply(p.owner, theirs, ticket["id"], "Here is the receipt.", tickets.Photo(PNG, tmp_path / "uploads"))
    photo_id = await p.owner.fetchval("SELECT id FROM ticket_attachments WHERE customer_id = $1", other["id"])
    csrf = await login(p)
    status, body, _ = await get(p, f"/tickets/photos/{photo_id}")
    assert status == 404 and PNG not in body
    status, page, _ = await get(p, f"/tickets/{ticket['id']}")
    assert status == 404 and b"Wrong bill" not in page
    status, _, _ = await post(p, f"/tickets/{ticket['id']}/reply", ticket_form(csrf, text="mine now"))
    assert status == 404
    status, _, _ = await post(p, f"/tickets/{ticket['id']}/status", {"csrf_token": csrf, "action": "close"})
    assert status == 404
    assert await p.owner.fetchval("SELECT status FROM tickets WHERE id = $1", ticket["id"]) == "open"
    assert await p.owner.fetchval("SELECT count(*) FROM ticket_messages WHERE ticket_id = $1", ticket["id"]) == 2
    status, listing, _ = await get(p, "/tickets")
    assert b"Wrong bill" not in listing
