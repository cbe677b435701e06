"""The portal's home page: status with its reason, package and speed, expiry, data used by day against the cap,
the live session and the ISP (real HTTP, real Postgres; radacct rows as accounting leaves them)."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from radbill import clock
from tests.portal.customer_http import get, log_in

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")


def text_of(html: bytes, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html.decode(), re.S)
    return re.sub(r"\s+", " ", found.group(1)).strip() if found else ""


async def add_session(p, username, start, stop=None, octets=0, ip="100.64.0.7", mac="AA:BB:CC:00:11:22"):
    await p.owner.execute(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime,"
        " acctstoptime, acctinputoctets, acctoutputoctets, framedipaddress, callingstationid)"
        " VALUES ($1, $1, $2, '10.0.0.1', $3, $4, $5, $6, $6, $7, $8)",
        f"s{start.timestamp()}", username, start, stop or start, stop, octets // 2, ip, mac)


async def test_a_suspended_customer_sees_why_and_what_to_pay(portal):
    p, c = portal, portal.w.customer
    await p.owner.execute("UPDATE operators SET phone = '01811000000', email = 'help@isp.example',"
                          " business_name = 'Fast Net', logo = $2, logo_content_type = 'image/png' WHERE id = $1",
                          p.w.operator["id"], PNG)
    await log_in(p, c["username"], c["radius_password"])
    status, html, _ = await get(p, "/")
    assert status == 200
    assert text_of(html, "status") == "Suspended"
    assert "a bill is unpaid: BDT 500.00 is due" in text_of(html, "reason")
    assert text_of(html, "due") == "BDT 500.00" and 'href="/bills" id="pay-now"' in html.decode()
    assert "/" in text_of(html, "speed") and text_of(html, "package")
    assert "ended" in text_of(html, "expiry")  # the world's customer expired yesterday
    assert text_of(html, "offline")
    assert text_of(html, "isp-phone") == "01811000000" and text_of(html, "isp-email") == "help@isp.example"
    assert 'src="/isp/logo"' in html.decode()
    status, body, headers = await get(p, "/isp/logo")
    assert status == 200 and body == PNG and headers["Content-Type"] == "image/png"


async def test_an_active_customer_sees_days_left_usage_by_day_and_the_live_session(portal):
    p, c = portal, portal.w.customer
    now = clock.now()
    await p.owner.execute("UPDATE customers SET status = 'active', expires_at = $2 WHERE id = $1", c["id"],
                          now + timedelta(days=9, hours=2))
    await p.owner.execute("UPDATE packages SET data_cap_bytes = 10000000000 WHERE id = $1", p.w.package["id"])
    window_start = await p.owner.fetchval("SELECT cap_window_start FROM radius_policy WHERE customer_id = $1",
                                          c["id"])
    day_one = window_start + timedelta(hours=8)
    await add_session(p, c["username"], day_one, day_one + timedelta(hours=1), octets=1_500_000_000)
    await add_session(p, c["username"], window_start - timedelta(days=3), window_start - timedelta(days=2),
                      octets=9_000_000_000)  # the last window's: not counted
    await add_session(p, c["username"], now - timedelta(minutes=30), octets=500_000_000)  # open now
    await add_session(p, "someone-else", now - timedelta(minutes=5), octets=7_000_000_000, ip="100.64.0.9")
    await log_in(p, c["username"], c["radius_password"])
    status, html, _ = await get(p, "/")
    page = html.decode()
    assert text_of(html, "status") == "Active" and text_of(html, "reason") == "Your connection is active."
    assert "10 days left" in text_of(html, "expiry")
    assert text_of(html, "used") == "2.0 GB used of 10.0 GB"
    dhaka = ZoneInfo("Asia/Dhaka")
    assert page.count('class="bar"') == (1 if day_one.astimezone(dhaka).date() == now.astimezone(dhaka).date() else 2)
    assert text_of(html, "address") == "100.64.0.7" and text_of(html, "mac") == "AA:BB:CC:00:11:22"
    assert "100.64.0.9" not in page


async def test_the_home_page_in_bangla(portal):
    p, c = portal, portal.w.customer
    await p.owner.execute("UPDATE operators SET default_locale = 'bn' WHERE id = $1", c["operator_id"])
    await log_in(p, c["username"], c["radius_password"])
    status, html, _ = await get(p, "/")
    assert status == 200 and 'lang="bn"' in html.decode()
    assert text_of(html, "status") == "স্থগিত" and "৳" in text_of(html, "due")
    assert "বিল পরিশোধ না হওয়ায়" in text_of(html, "reason")
