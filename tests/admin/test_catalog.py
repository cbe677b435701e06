"""Packages, billing profiles, assignments and zones through the real admin, plus the pure form parsers."""

import asyncpg
import pytest

from radbill.errors import NotFound, ValidationError
from radbill.services import catalog
from radbill.tenancy import Scope

PACKAGE = {"name": "Fiber 10", "download": "10M", "upload": "5M", "price": "1,234.50", "validity_days": "30",
           "ip_pool": "fiber-pool", "connection_types": ["pppoe", "hotspot"]}


async def _db(url):
    return await asyncpg.connect(url)


async def _scope(url, username) -> Scope:
    conn = await _db(url)
    try:
        row = await conn.fetchrow("SELECT a.id, a.role, a.permissions, o.id AS operator_id, o.path::text AS path"
                                  " FROM accounts a JOIN operators o ON o.id = a.operator_id WHERE a.username = $1",
                                  username)
    finally:
        await conn.close()
    return Scope(row["id"], row["operator_id"], row["path"], row["role"], frozenset(row["permissions"]))


async def _create_package(c, **changes) -> int:
    response = await c.post("/packages/new", {**PACKAGE, **changes}, token_from="/packages/new")
    assert response.status == 303, await response.text()
    return int(response.headers["Location"].split("/")[2])


# ---- pure parsers --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "minor"), [("500", 50000), ("1,234.50", 123450), ("1234.5", 123450),
                                             ("0.05", 5), ("0", 0), ("1,000,000", 100000000), (" 75.00 ", 7500),
                                             ("BDT 20", 2000)])
def test_prices_are_parsed_exactly_into_minor_units(text, minor):
    values = catalog.package_values({**PACKAGE, "price": text}, "BDT")
    assert values["price_minor"] == minor and isinstance(values["price_minor"], int)


@pytest.mark.parametrize("text", ["", "1.234", "12,34", "-5", "abc", "1e3", "1,23.00", "0x10", "NaN"])
def test_malformed_prices_are_a_field_error(text):
    with pytest.raises(ValidationError) as caught:
        catalog.package_values({**PACKAGE, "price": text}, "BDT")
    assert set(caught.value.fields) == {"price"}


def test_price_exponent_follows_the_currency():
    assert catalog.package_values({**PACKAGE, "price": "1,500"}, "JPY")["price_minor"] == 1500
    with pytest.raises(ValidationError):
        catalog.package_values({**PACKAGE, "price": "15.5"}, "JPY")


@pytest.mark.parametrize(("text", "kbps"), [("10M", 10000), ("10", 10000), ("1.5M", 1500), ("512k", 512),
                                            ("512 kbit/s", 512), ("20 Mbit/s", 20000), ("1G", 1000000),
                                            ("2.5mbps", 2500), ("0.512M", 512)])
def test_rates_in_mbit_or_kbit(text, kbps):
    assert catalog.parse_rate(text) == kbps


@pytest.mark.parametrize("text", ["", "0", "1.5k", "abc", "-1M", "10T", "1.2345M", "200G"])
def test_bad_rates(text):
    with pytest.raises(ValueError):
        catalog.parse_rate(text)


def test_burst_and_data_cap_rules():
    values = catalog.package_values({**PACKAGE, "burst_download": "20M", "burst_upload": "10M", "burst_time": "16",
                                     "data_cap_gb": "1.5", "throttled_download": "1M", "throttled_upload": "512k"},
                                    "BDT")
    assert catalog.rate_limit(values) == "5M/10M 10M/20M 3750k/7500k 16/16"
    assert values["data_cap_bytes"] == 1_500_000_000 and catalog.throttled_rate_limit(values) == "512k/1M"
    for broken, field in (({"burst_download": "20M"}, "burst_upload"), ({"burst_time": "8"}, "burst_time"),
                          ({"data_cap_gb": "100"}, "throttled_download"),
                          ({"data_cap_gb": "100", "throttled_download": "1M"}, "throttled_upload"),
                          ({"throttled_download": "1M", "throttled_upload": "1M"}, "data_cap_gb"),
                          ({"connection_types": []}, "connection_types"), ({"ip_pool": "bad pool"}, "ip_pool")):
        with pytest.raises(ValidationError) as caught:
            catalog.package_values({**PACKAGE, **broken}, "BDT")
        assert field in caught.value.fields, broken


# ---- packages through the admin -------------------------------------------------------------------------

async def test_create_edit_retire_a_package_and_see_the_rate_limit(make_client, fresh_db_url):
    c = await make_client("opa")
    package_id = await _create_package(c)
    listing = await (await c.get("/packages")).text()
    assert "Fiber 10" in listing and "5M/10M" in listing and "BDT 1,234.50" in listing
    edit = await (await c.get(f"/packages/{package_id}/edit")).text()
    assert 'value="10M"' in edit and 'value="1234.50"' in edit and "Mikrotik-Rate-Limit = 5M/10M" in edit

    response = await c.post(f"/packages/{package_id}/edit", {**PACKAGE, "download": "20M", "upload": "10M",
                                                              "price": "600"}, token_from=f"/packages/{package_id}/edit")
    assert response.status == 303
    listing = await (await c.get("/packages")).text()
    assert "10M/20M" in listing and "BDT 600.00" in listing

    response = await c.post(f"/packages/{package_id}/status", {"status": "retired"}, token_from="/packages/manage")
    assert response.status == 303
    assert "Fiber 10" not in await (await c.get("/packages")).text()
    manage = await (await c.get("/packages/manage")).text()
    assert "Fiber 10" in manage and "retired" in manage
    await c.post(f"/packages/{package_id}/status", {"status": "active"}, token_from="/packages/manage")
    assert "Fiber 10" in await (await c.get("/packages")).text()

    conn = await _db(fresh_db_url)
    try:
        row = await conn.fetchrow("SELECT * FROM packages WHERE id = $1", package_id)
        audits = await conn.fetch("SELECT action, detail FROM audit_log WHERE object_kind = 'package'"
                                  " AND object_id = $1 ORDER BY id", package_id)
    finally:
        await conn.close()
    assert (row["download_kbps"], row["upload_kbps"], row["price_minor"], row["status"]) == (20000, 10000, 60000,
                                                                                            "active")
    assert list(row["connection_types"]) == ["pppoe", "hotspot"]
    assert [a["action"] for a in audits] == ["package.create", "package.edit", "package.retire", "package.reactivate"]
    assert '"price_minor": [123450, 60000]' in audits[1]["detail"]
    assert '"rate_limit": ["5M/10M", "10M/20M"]' in audits[1]["detail"]


async def test_preview_shows_the_rate_limit_without_saving(make_client, fresh_db_url):
    c = await make_client("opa")
    response = await c.post("/packages/new", {**PACKAGE, "burst_download": "20M", "burst_upload": "10M",
                                              "action": "preview"}, token_from="/packages/new")
    page = await response.text()
    assert response.status == 200 and "5M/10M 10M/20M 3750k/7500k 8/8" in page and "Not saved" in page
    conn = await _db(fresh_db_url)
    try:
        assert not await conn.fetchval("SELECT count(*) FROM packages WHERE name = 'Fiber 10'")
    finally:
        await conn.close()


async def test_data_cap_needs_throttled_rates_and_the_form_keeps_what_was_typed(make_client):
    c = await make_client("opa")
    response = await c.post("/packages/new", {**PACKAGE, "data_cap_gb": "100", "throttled_download": "1M"},
                            token_from="/packages/new")
    page = await response.text()
    assert response.status == 422
    assert "A data cap needs the throttled rate" in page and 'value="100"' in page and 'value="1,234.50"' in page
    response = await c.post("/packages/new", {**PACKAGE, "throttled_download": "1M", "throttled_upload": "1M"},
                            token_from="/packages/new")
    assert response.status == 422 and "Throttled rates need a data cap" in await response.text()
    response = await c.post("/packages/new", {**PACKAGE, "price": "12.345"}, token_from="/packages/new")
    assert response.status == 422 and 'aria-invalid="true"' in await response.text()
    response = await c.post("/packages/new", {**PACKAGE, "data_cap_gb": "100", "throttled_download": "1M",
                                              "throttled_upload": "512k"}, token_from="/packages/new")
    assert response.status == 303


async def test_the_cap_period_is_chosen_on_the_package_form_and_checked(make_client, fresh_db_url):
    c = await make_client("opa")
    capped = {**PACKAGE, "data_cap_gb": "100", "throttled_download": "1M", "throttled_upload": "512k"}
    response = await c.post("/packages/new", {**capped, "cap_period": "weekly"}, token_from="/packages/new")
    assert response.status == 422 and "Choose when the data cap starts again" in await response.text()
    package_id = await _create_package(c, **capped, cap_period="billing_cycle")
    edit = await (await c.get(f"/packages/{package_id}/edit")).text()
    assert '<option value="billing_cycle" selected>' in edit
    assert "100 GB per billing period" in await (await c.get("/packages")).text()
    response = await c.post(f"/packages/{package_id}/edit", {**capped, "cap_period": "calendar_month"},
                            token_from=f"/packages/{package_id}/edit")
    assert response.status == 303
    conn = await _db(fresh_db_url)
    try:
        assert await conn.fetchval("SELECT cap_period FROM packages WHERE id = $1", package_id) == "calendar_month"
    finally:
        await conn.close()


async def test_the_router_profile_is_edited_on_the_package_form_and_checked(make_client, fresh_db_url):
    c = await make_client("opa")
    response = await c.post("/packages/new", {**PACKAGE, "router_profile": "gold; drop"}, token_from="/packages/new")
    page = await response.text()
    assert response.status == 422 and "The profile&#39;s name as the router knows it" in page
    assert 'value="gold; drop"' in page  # what was typed stays in the form
    package_id = await _create_package(c, router_profile="pppoe-gold")
    edit = await (await c.get(f"/packages/{package_id}/edit")).text()
    assert 'name="router_profile" value="pppoe-gold"' in edit
    response = await c.post(f"/packages/{package_id}/edit", {**PACKAGE, "router_profile": ""},
                            token_from=f"/packages/{package_id}/edit")
    assert response.status == 303
    conn = await _db(fresh_db_url)
    try:
        assert await conn.fetchval("SELECT router_profile FROM packages WHERE id = $1", package_id) is None
        edit_audit = await conn.fetchval("SELECT detail FROM audit_log WHERE action = 'package.edit'"
                                         " AND object_id = $1", package_id)
    finally:
        await conn.close()
    assert '"router_profile": ["pppoe-gold", null]' in edit_audit


async def test_duplicate_package_name_is_a_field_error(make_client):
    c = await make_client("opa")
    await _create_package(c)
    response = await c.post("/packages/new", {**PACKAGE, "name": "fiber 10"}, token_from="/packages/new")
    assert response.status == 422 and "already used" in await response.text()


async def test_assignment_is_visible_to_its_sub_operator_only(make_client, fresh_db_url, tree):
    c = await make_client("opa")
    package_id = await _create_package(c, name="Reseller 15")
    response = await c.post(f"/packages/{package_id}/assignments",
                            {"operator_id": str(tree.ops["sub_a1"]["id"]), "wholesale_price": "350",
                             "retail_price": "450.50"}, token_from=f"/packages/{package_id}/edit")
    assert response.status == 303
    edit = await (await c.get(f"/packages/{package_id}/edit")).text()
    assert "Reseller A1" in edit and "BDT 350.00" in edit

    a1 = await (await (await make_client("suba1")).get("/packages")).text()
    assert "Reseller 15" in a1 and "BDT 350.00" in a1 and "BDT 450.50" in a1 and "5M/10M" in a1
    assert f"/packages/{package_id}/edit" not in a1
    a2 = await (await (await make_client("suba2")).get("/packages")).text()
    assert "Reseller 15" not in a2

    scope = await _scope(fresh_db_url, "suba1")
    conn = await _db(fresh_db_url)
    try:
        offered = await catalog.packages_for(conn, scope)
        assert [(p["name"], p["wholesale_price_minor"], p["customer_price_minor"]) for p in offered
                if p["id"] == package_id] == [("Reseller 15", 35000, 45050)]
        operator_offer = await catalog.packages_for(conn, await _scope(fresh_db_url, "opa"))
        assert package_id in {p["id"] for p in operator_offer}
        a2_offer = await catalog.packages_for(conn, await _scope(fresh_db_url, "suba2"))
        assert package_id not in {p["id"] for p in a2_offer}
        with pytest.raises(NotFound):
            await catalog.packages_for(conn, await _scope(fresh_db_url, "opb"), tree.ops["sub_a1"]["id"])
    finally:
        await conn.close()

    # a sub-operator of another operator, or an unknown id, is refused with a field error
    for operator_id in (tree.ops["op_b"]["id"], 999999):
        response = await c.post(f"/packages/{package_id}/assignments",
                                {"operator_id": str(operator_id), "wholesale_price": "1"},
                                token_from=f"/packages/{package_id}/edit")
        assert response.status == 422
    response = await c.post(f"/packages/{package_id}/assignments",
                            {"operator_id": str(tree.ops["sub_a2"]["id"]), "wholesale_price": "abc"},
                            token_from=f"/packages/{package_id}/edit")
    assert response.status == 422 and "Write an amount" in await response.text()

    response = await c.post(f"/packages/{package_id}/assignments/{tree.ops['sub_a1']['id']}/delete",
                            token_from=f"/packages/{package_id}/edit")
    assert response.status == 303
    assert "Reseller 15" not in await (await (await make_client("suba1")).get("/packages")).text()


async def test_unused_packages_delete_used_ones_only_retire(make_client, fresh_db_url):
    c = await make_client("opa")
    package_id = await _create_package(c)
    assert (await c.post(f"/packages/{package_id}/delete", token_from="/packages/manage")).status == 303
    conn = await _db(fresh_db_url)
    try:
        assert not await conn.fetchval("SELECT count(*) FROM packages WHERE id = $1", package_id)
        used = await conn.fetchval("SELECT package_id FROM customers WHERE username = 'cust-a1'")
    finally:
        await conn.close()
    response = await c.post(f"/packages/{used}/delete", token_from="/packages/manage")
    assert response.status == 303
    page = await (await c.get("/packages/manage")).text()
    assert "is in use" in page and "retire it instead" in page
    conn = await _db(fresh_db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM packages WHERE id = $1", used) == 1
    finally:
        await conn.close()


async def test_foreign_package_ids_are_404_and_sub_operators_get_the_403_page(make_client, fresh_db_url):
    conn = await _db(fresh_db_url)
    try:
        foreign = await conn.fetchval("SELECT package_id FROM customers WHERE username = 'cust-a1'")
    finally:
        await conn.close()
    b = await make_client("opb")
    assert (await b.get(f"/packages/{foreign}/edit")).status == 404
    assert (await b.get("/packages/999999/edit")).status == 404
    for path in (f"/packages/{foreign}/edit", f"/packages/{foreign}/status", f"/packages/{foreign}/delete"):
        response = await b.post(path, {**PACKAGE, "status": "retired"}, token_from="/packages/manage")
        assert response.status == 404, path
    s = await make_client("suba1")
    response = await s.get("/packages/new")
    page = await response.text()
    assert response.status == 403 and "Ask your parent operator" in page
    assert "Packages and billing-profile editing" in page
    assert (await s.post(f"/packages/{foreign}/status", {"status": "retired"}, token_from="/packages")).status == 403


# ---- billing profiles ------------------------------------------------------------------------------------

PROFILE = {"name": "Monthly 10th", "cycle_kind": "fixed_day", "billing_day": "10", "due_days": "7",
           "grace_days": "3", "auto_suspend": "1", "billing_type": "prepaid"}


@pytest.mark.parametrize(("changes", "field"), [
    ({"billing_day": ""}, "billing_day"), ({"billing_day": "32"}, "billing_day"), ({"billing_day": "0"}, "billing_day"),
    ({"cycle_kind": "validity_days"}, "validity_days"), ({"cycle_kind": "weekly"}, "cycle_kind"),
    ({"billing_type": "barter"}, "billing_type"), ({"due_days": "-1"}, "due_days"), ({"grace_days": "400"}, "grace_days"),
    ({"name": " "}, "name"),
])
def test_billing_profile_validation(changes, field):
    with pytest.raises(ValidationError) as caught:
        catalog.profile_values({**PROFILE, **changes})
    assert field in caught.value.fields


def test_billing_profile_cycle_clears_the_other_cycle_field():
    values = catalog.profile_values({**PROFILE, "cycle_kind": "validity_days", "validity_days": "30"})
    assert values["billing_day"] is None and values["validity_days"] == 30
    assert catalog.profile_values({**PROFILE, "auto_suspend": ""})["auto_suspend"] is False
    assert catalog.profile_values(PROFILE)["change_billing"] == "prorate_now"
    with pytest.raises(ValidationError) as err:
        catalog.profile_values({**PROFILE, "change_billing": "whenever"})
    assert err.value.fields == {"change_billing": "Choose how a package change is billed."}


async def test_billing_profile_create_edit_retire_assign(make_client, fresh_db_url, tree):
    c = await make_client("mgr_all")
    response = await c.post("/billing-profiles/new", {**PROFILE, "billing_day": ""}, token_from="/billing-profiles/new")
    page = await response.text()
    assert response.status == 422 and "Enter the day of the month" in page and 'value="Monthly 10th"' in page
    response = await c.post("/billing-profiles/new", PROFILE, token_from="/billing-profiles/new")
    assert response.status == 303
    profile_id = int(response.headers["Location"].split("/")[2])
    assert "monthly on day 10" in await (await c.get("/billing-profiles")).text()
    response = await c.post(f"/billing-profiles/{profile_id}/edit",
                            {**PROFILE, "cycle_kind": "validity_days", "validity_days": "30", "billing_type": "postpaid",
                             "change_billing": "next_period"},
                            token_from=f"/billing-profiles/{profile_id}/edit")
    assert response.status == 303
    assert "every 30 days" in await (await c.get("/billing-profiles")).text()
    response = await c.post(f"/billing-profiles/{profile_id}/assignments", {"operator_id": str(tree.ops["sub_a2"]["id"])},
                            token_from=f"/billing-profiles/{profile_id}/edit")
    assert response.status == 303
    conn = await _db(fresh_db_url)
    try:
        a2 = {p["id"] for p in await catalog.billing_profiles_for(conn, await _scope(fresh_db_url, "suba2"))}
        a1 = {p["id"] for p in await catalog.billing_profiles_for(conn, await _scope(fresh_db_url, "suba1"))}
        assert profile_id in a2 and profile_id not in a1
        await c.post(f"/billing-profiles/{profile_id}/status", {"status": "retired"}, token_from="/billing-profiles")
        a2 = {p["id"] for p in await catalog.billing_profiles_for(conn, await _scope(fresh_db_url, "suba2"))}
        assert profile_id not in a2
        audits = await conn.fetch("SELECT action, detail FROM audit_log WHERE object_kind = 'billing_profile'"
                                  " AND object_id = $1 ORDER BY id", profile_id)
    finally:
        await conn.close()
    assert [a["action"] for a in audits] == ["billing_profile.create", "billing_profile.edit",
                                             "billing_profile.assign", "billing_profile.retire"]
    assert '"cycle_kind": ["fixed_day", "validity_days"]' in audits[1]["detail"]
    assert '"change_billing": ["prorate_now", "next_period"]' in audits[1]["detail"]
    b = await make_client("opb")
    assert (await b.get(f"/billing-profiles/{profile_id}/edit")).status == 404


# ---- zones ---------------------------------------------------------------------------------------------

async def test_zones_crud_and_zones_for(make_client, fresh_db_url, tree):
    c = await make_client("opa")
    assert (await c.post("/zones", {"name": "North"}, token_from="/zones")).status == 303
    response = await c.post("/zones", {"name": "north"}, token_from="/zones")
    assert response.status == 422 and "already used" in await response.text()
    response = await c.post("/zones", {"name": ""}, token_from="/zones")
    assert response.status == 422
    conn = await _db(fresh_db_url)
    try:
        zone_id = await conn.fetchval("SELECT id FROM zones WHERE name = 'North'")
        assert (await c.post(f"/zones/{zone_id}/rename", {"name": "North Side"}, token_from="/zones")).status == 303
        assert "North Side" in await (await c.get("/zones")).text()

        names = {z["name"] for z in await catalog.zones_for(conn, await _scope(fresh_db_url, "suba1"))}
        assert names == {"North Side"}
        assert not await catalog.zones_for(conn, await _scope(fresh_db_url, "opb"))
        b = await make_client("opb")
        assert (await b.post(f"/zones/{zone_id}/rename", {"name": "Mine"}, token_from="/")).status == 404
        assert (await b.post(f"/zones/{zone_id}/delete", token_from="/")).status == 404

        await conn.execute("UPDATE customers SET zone_id = $1 WHERE username = 'cust-a1'", zone_id)
        await c.post(f"/zones/{zone_id}/delete", token_from="/zones")
        assert await conn.fetchval("SELECT count(*) FROM zones WHERE id = $1", zone_id) == 1
        await conn.execute("UPDATE customers SET zone_id = NULL WHERE username = 'cust-a1'")
        assert (await c.post(f"/zones/{zone_id}/delete", token_from="/zones")).status == 303
        assert await conn.fetchval("SELECT count(*) FROM zones WHERE id = $1", zone_id) == 0
        actions = [r["action"] for r in await conn.fetch(
            "SELECT action FROM audit_log WHERE object_kind = 'zone' AND object_id = $1 ORDER BY id", zone_id)]
    finally:
        await conn.close()
    assert actions == ["zone.create", "zone.rename", "zone.delete"]
    s = await make_client("suba1")
    assert (await s.get("/zones")).status == 403


async def test_the_package_form_edits_further_tiers_and_checks_their_order(make_client, fresh_db_url):
    c = await make_client("opa")
    capped = {**PACKAGE, "data_cap_gb": "200", "throttled_download": "10M", "throttled_upload": "5M"}
    for bad, says in (({"tier2_gb": "150", "tier2_download": "5M", "tier2_upload": "2M"}, "must start after more data"),
                      ({"tier2_gb": "400", "tier2_download": "20M", "tier2_upload": "2M"}, "must be slower"),
                      ({"tier2_gb": "400", "tier2_download": "5M"}, "Tier 2 needs its data amount")):
        response = await c.post("/packages/new", {**capped, **bad}, token_from="/packages/new")
        assert response.status == 422 and says in await response.text(), bad
    package_id = await _create_package(c, **capped, tier2_gb="400", tier2_download="5M", tier2_upload="2M",
                                       tier3_gb="600", tier3_download="2M", tier3_upload="1M")
    edit = await (await c.get(f"/packages/{package_id}/edit")).text()
    assert 'name="tier2_gb" value="400"' in edit and 'name="tier3_download" value="2M"' in edit
    conn = await _db(fresh_db_url)
    try:
        tiers = await conn.fetch("SELECT after_bytes, download_kbps, upload_kbps FROM package_cap_tiers"
                                 " WHERE package_id = $1 ORDER BY after_bytes", package_id)
        assert [tuple(t) for t in tiers] == [(400 * 10**9, 5000, 2000), (600 * 10**9, 2000, 1000)]
        # saving without tier 3 removes it; the policy view carries what is left
        response = await c.post(f"/packages/{package_id}/edit", {**capped, "tier2_gb": "400", "tier2_download": "5M",
                                                                 "tier2_upload": "2M"},
                                token_from=f"/packages/{package_id}/edit")
        assert response.status == 303
        assert await conn.fetchval("SELECT count(*) FROM package_cap_tiers WHERE package_id = $1", package_id) == 1
    finally:
        await conn.close()
