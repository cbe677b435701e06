"""What operators sell: packages, billing profiles, their assignments to sub-operators, and zones.

Every lookup is scoped to the caller's subtree (a foreign id is NotFound, like a missing one); every change is one
transaction with its audit row, filed under the owning operator so that operator's audit log shows it. Editing a
package needs nothing more: the packages trigger NOTIFYs the RADIUS module for each of its customers.
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from radbill.catalog_forms import (  # noqa: F401  (re-exported: the admin views use catalog.*)
    BILLING_TYPES,
    CONNECTION_TYPES,
    CYCLE_KINDS,
    MAX_KBPS,
    PACKAGE_COLUMNS,
    PROFILE_COLUMNS,
    RATE_FIELDS,
    STATUSES,
    format_gigabytes,
    format_price,
    package_form,
    package_values,
    parse_gigabytes,
    parse_price,
    parse_rate,
    profile_values,
    rate_limit,
    throttled_rate_limit,
)
from radbill.errors import NotFound, ValidationError
from radbill.i18n import _, lazy_gettext
from radbill.services import audit, pool_change, vat
from radbill.tenancy import Scope
from radbill.validate import optional_id

# ---- packages ------------------------------------------------------------------------------------------

PACKAGE_IN_SCOPE = """
    SELECT p.*, o.currency, o.name AS owner_name, o.path::text AS owner_path
      FROM packages p JOIN operators o ON o.id = p.operator_id
     WHERE p.id = $1 AND o.path <@ $2::ltree
"""


async def get_package(conn: asyncpg.Connection, scope: Scope, package_id: int,
                      for_update: bool = False) -> asyncpg.Record:
    """A package owned inside the caller's subtree."""
    row = await conn.fetchrow(PACKAGE_IN_SCOPE + (" FOR UPDATE OF p" if for_update else ""), package_id, scope.path)
    if row is None:
        raise NotFound("No such package.")
    return row


async def list_packages(conn: asyncpg.Connection, scope: Scope, include_retired: bool = True) -> list[asyncpg.Record]:
    """Packages owned inside the caller's subtree, with how many customers and sub-operators use each."""
    return await conn.fetch(
        "SELECT p.*, o.currency, o.name AS owner_name,"
        "       (SELECT count(*) FROM customers c WHERE c.package_id = p.id) AS customers,"
        "       (SELECT count(*) FROM package_assignments a WHERE a.package_id = p.id) AS assignments"
        "  FROM packages p JOIN operators o ON o.id = p.operator_id"
        " WHERE o.path <@ $1::ltree AND ($2 OR p.status = 'active')"
        " ORDER BY p.status, p.price_minor, lower(p.name)", scope.path, include_retired)


async def packages_for(conn: asyncpg.Connection, scope: Scope, operator_id: int | None = None) -> list[asyncpg.Record]:
    """Active packages a customer of `operator_id` (default: the caller's operator) may be given.

    The same rule as customers.sellable_package: the operator's own, those assigned to it (with the wholesale and
    optional retail price), and for an operator (not a sub-operator) its ancestors'. `customer_price_minor` is the
    assignment's retail price, else the package price."""
    return await _offered(conn, scope, operator_id, """
        SELECT p.*, o.currency, o.name AS owner_name, a.wholesale_price_minor, a.retail_price_minor,
               coalesce(a.retail_price_minor, p.price_minor) AS customer_price_minor
          FROM operators t
          JOIN packages p ON p.status = 'active'
          JOIN operators o ON o.id = p.operator_id
          LEFT JOIN package_assignments a ON a.package_id = p.id AND a.operator_id = t.id
         WHERE t.id = $1 AND t.path <@ $2::ltree
           AND radbill_sellable('package', p.id, t.id)
         ORDER BY customer_price_minor, lower(p.name)""")


async def _offered(conn, scope: Scope, operator_id: int | None, query: str) -> list[asyncpg.Record]:
    target = operator_id or scope.operator_id
    if target != scope.operator_id and not await conn.fetchval(
            "SELECT exists(SELECT 1 FROM operators WHERE id = $1 AND path <@ $2::ltree)", target, scope.path):
        raise NotFound("No such operator.")
    return await conn.fetch(query, target, scope.path)


async def _operator_currency(conn, scope: Scope) -> str:
    return await conn.fetchval("SELECT currency FROM operators WHERE id = $1", scope.operator_id)


# whole sentences per kind of item: a translation cannot glue a noun into a sentence
_DUPLICATE = {"package": lazy_gettext("There is already a package with this name."),
              "billing profile": lazy_gettext("There is already a billing profile with this name."),
              "zone": lazy_gettext("There is already a zone with this name.")}
_CHOOSE_STATUS = {
    "package": lazy_gettext("Choose active or retired for the package (reload the page and use its buttons)."),
    "billing_profile": lazy_gettext("Choose active or retired for the billing profile (reload the page and use its "
                                    "buttons)."),
}


def _duplicate_name(kind: str) -> ValidationError:
    return ValidationError(str(_DUPLICATE[kind]), {"name": _("already used; choose another")})


async def preview_package(conn: asyncpg.Connection, scope: Scope, form: Mapping,
                          package_id: int | None = None) -> dict:
    """What a package form would send to routers, without saving it (ValidationError exactly as on save)."""
    currency = ((await get_package(conn, scope, package_id))["currency"] if package_id
                else await _operator_currency(conn, scope))
    values = package_values(form, currency)
    return {"rate_limit": rate_limit(values), "throttled": throttled_rate_limit(values)}


async def create_package(conn: asyncpg.Connection, scope: Scope, form: Mapping, ip: str | None = None
                         ) -> asyncpg.Record:
    """A new package owned by the caller's operator."""
    values = package_values(form, await _operator_currency(conn, scope))
    vat_profile_id = await vat.attachable(conn, scope, optional_id(form.get("vat_profile_id")))
    try:
        async with conn.transaction():
            package_id = await conn.fetchval(
                "INSERT INTO packages (operator_id, name, download_kbps, upload_kbps, burst_download_kbps,"
                " burst_upload_kbps, burst_threshold_download_kbps, burst_threshold_upload_kbps, burst_time_seconds,"
                " price_minor, validity_days, ip_pool, data_cap_bytes, throttled_download_kbps, throttled_upload_kbps,"
                " connection_types, cap_period, router_profile)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
                " RETURNING id", scope.operator_id, *(values[c] for c in PACKAGE_COLUMNS))
            await conn.execute("UPDATE packages SET vat_profile_id = $2 WHERE id = $1", package_id, vat_profile_id)
            await _save_tiers(conn, package_id, scope.operator_id, values["cap_tiers"])
            await audit.record(conn, scope, "package.create", "package", package_id,
                               {**values, "rate_limit": rate_limit(values), "vat_profile_id": vat_profile_id}, ip)
    except asyncpg.UniqueViolationError:
        raise _duplicate_name("package") from None
    return await get_package(conn, scope, package_id)


async def update_package(conn: asyncpg.Connection, scope: Scope, package_id: int, form: Mapping,
                         ip: str | None = None) -> asyncpg.Record:
    """Edit a package; its customers' next RADIUS replies use the new speeds (the packages trigger NOTIFYs). A new
    IP pool disconnects the online customers' sessions (a pool cannot change by CoA); ask first how many."""
    try:
        async with conn.transaction():
            old = await get_package(conn, scope, package_id, for_update=True)
            values = package_values(form, old["currency"])
            vat_profile_id = await vat.attachable(conn, scope, optional_id(form.get("vat_profile_id")))
            await conn.execute(
                "UPDATE packages SET name = $2, download_kbps = $3, upload_kbps = $4, burst_download_kbps = $5,"
                " burst_upload_kbps = $6, burst_threshold_download_kbps = $7, burst_threshold_upload_kbps = $8,"
                " burst_time_seconds = $9, price_minor = $10, validity_days = $11, ip_pool = $12,"
                " data_cap_bytes = $13, throttled_download_kbps = $14, throttled_upload_kbps = $15,"
                " connection_types = $16, cap_period = $17, router_profile = $18 WHERE id = $1",
                package_id, *(values[c] for c in PACKAGE_COLUMNS))
            old_tiers = await _tier_tuples(conn, package_id)
            await _save_tiers(conn, package_id, old["operator_id"], values["cap_tiers"])
            detail = audit.changes({**dict(old), "connection_types": list(old["connection_types"]),
                                    "rate_limit": rate_limit(old), "cap_tiers": old_tiers},
                                   {**values, "rate_limit": rate_limit(values)})
            if old["vat_profile_id"] != vat_profile_id:
                await conn.execute("UPDATE packages SET vat_profile_id = $2 WHERE id = $1", package_id, vat_profile_id)
                detail["vat_profile_id"] = [old["vat_profile_id"], vat_profile_id]
            if old["ip_pool"] != values["ip_pool"]:
                detail["outbox_ids"] = await pool_change.disconnect_for_pool_change(conn, scope, package_id,
                                                                                   values["ip_pool"])
            await audit.record(conn, scope, "package.edit", "package", package_id, detail, ip,
                               operator_id=old["operator_id"])
    except asyncpg.UniqueViolationError:
        raise _duplicate_name("package") from None
    return await get_package(conn, scope, package_id)


TIERS = "SELECT id, package_id, after_bytes, download_kbps, upload_kbps FROM package_cap_tiers WHERE package_id = $1"


async def package_tiers(conn: asyncpg.Connection, package_id: int) -> list[asyncpg.Record]:
    """The tiers after tier 1, ascending (call after a scoped load of the package)."""
    return await conn.fetch(TIERS + " ORDER BY after_bytes", package_id)


async def _tier_tuples(conn, package_id: int) -> list[tuple[int, int, int]]:
    return [(t["after_bytes"], t["download_kbps"], t["upload_kbps"]) for t in await package_tiers(conn, package_id)]


async def _save_tiers(conn, package_id: int, operator_id: int, tiers: list[tuple[int, int, int]]) -> None:
    """Replace the further tiers when they changed (each write NOTIFYs the package's customers' snapshot rows)."""
    if await _tier_tuples(conn, package_id) == [tuple(t) for t in tiers]:
        return
    await conn.execute("DELETE FROM package_cap_tiers WHERE package_id = $1", package_id)
    await conn.executemany("INSERT INTO package_cap_tiers (package_id, operator_id, after_bytes, download_kbps,"
                           " upload_kbps) VALUES ($1, $2, $3, $4, $5)",
                           [(package_id, operator_id, *t) for t in tiers])


async def set_package_status(conn: asyncpg.Connection, scope: Scope, package_id: int, status: str,
                             ip: str | None = None) -> None:
    await _set_status(conn, scope, "package", get_package, package_id, status, ip)


_STATUS_UPDATES = {"package": "UPDATE packages SET status = $2 WHERE id = $1",
                   "billing_profile": "UPDATE billing_profiles SET status = $2 WHERE id = $1"}


async def _set_status(conn, scope: Scope, kind: str, get, item_id: int, status: str, ip: str | None) -> None:
    """Retire (customers keep it, nobody new gets it) or reactivate a package or billing profile. The item is
    looked up first, so a foreign id is a 404 whatever was posted with it."""
    async with conn.transaction():
        old = await get(conn, scope, item_id, for_update=True)
        if status not in STATUSES:
            raise ValidationError(str(_CHOOSE_STATUS[kind]), {"status": _("active or retired")})
        await conn.execute(_STATUS_UPDATES[kind], item_id, status)
        await audit.record(conn, scope, f"{kind}.{'retire' if status == 'retired' else 'reactivate'}", kind, item_id,
                           {"status": [old["status"], status]}, ip, operator_id=old["operator_id"])


async def delete_package(conn: asyncpg.Connection, scope: Scope, package_id: int, ip: str | None = None) -> None:
    """Delete a package nobody uses (no customer, bill or assignment); otherwise retire it."""
    async with conn.transaction():
        old = await get_package(conn, scope, package_id, for_update=True)
        used = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM customers WHERE package_id = $1) AS customers,"
            "       (SELECT count(*) FROM bills WHERE package_id = $1) AS bills,"
            "       (SELECT count(*) FROM package_assignments WHERE package_id = $1) AS assignments", package_id)
        if any(used.values()):
            raise ValidationError(_(
                "%(name)s is in use (%(customers)s customers, %(bills)s bills, %(assignments)s sub-operator "
                "assignments): retire it instead, so nobody new gets it.", name=old["name"],
                customers=used["customers"], bills=used["bills"], assignments=used["assignments"]))
        await conn.execute("DELETE FROM packages WHERE id = $1", package_id)
        await audit.record(conn, scope, "package.delete", "package", package_id,
                           {"name": old["name"], "rate_limit": rate_limit(old), "price_minor": old["price_minor"]},
                           ip, operator_id=old["operator_id"])


# ---- assignments to sub-operators ---------------------------------------------------------------------

async def assignable_operators(conn: asyncpg.Connection, scope: Scope, owner_path: str) -> list[asyncpg.Record]:
    """Sub-operators below a package's (or profile's) owner that the caller can see."""
    return await conn.fetch(
        "SELECT id, name FROM operators WHERE kind = 'sub_operator' AND path <@ $1::ltree AND path <@ $2::ltree"
        " ORDER BY lower(name)", owner_path, scope.path)


async def _assignment_target(conn, scope: Scope, owner_path: str, operator_id: int | None) -> asyncpg.Record:
    row = None
    if operator_id is not None:
        row = await conn.fetchrow(
            "SELECT id, name FROM operators WHERE id = $1 AND kind = 'sub_operator' AND path <@ $2::ltree"
            " AND path <@ $3::ltree", operator_id, owner_path, scope.path)
    if row is None:
        raise ValidationError(_("Choose one of the sub-operators below the owner."),
                              {"operator_id": _("choose a sub-operator")})
    return row


async def package_assignments(conn: asyncpg.Connection, scope: Scope, package_id: int) -> list[asyncpg.Record]:
    package = await get_package(conn, scope, package_id)
    return await conn.fetch(
        "SELECT a.*, o.name AS operator_name,"
        "       (SELECT count(*) FROM customers c WHERE c.operator_id = a.operator_id AND c.package_id = a.package_id)"
        "         AS customers"
        "  FROM package_assignments a JOIN operators o ON o.id = a.operator_id"
        " WHERE a.package_id = $1 AND o.path <@ $2::ltree ORDER BY lower(o.name)", package["id"], scope.path)


async def assign_package(conn: asyncpg.Connection, scope: Scope, package_id: int, operator_id: int | None,
                         wholesale_price: str, retail_price: str = "", ip: str | None = None) -> None:
    """Let a sub-operator sell a package at a wholesale price (and optional retail price); again: change prices."""
    async with conn.transaction():
        package = await get_package(conn, scope, package_id, for_update=True)
        target = await _assignment_target(conn, scope, package["owner_path"], operator_id)
        errors, prices = {}, {}
        for key, text in (("wholesale_price", wholesale_price), ("retail_price", retail_price)):
            prices[key] = None
            if text.strip():
                try:
                    prices[key] = parse_price(text, package["currency"])
                except ValueError as exc:
                    errors[key] = str(exc)
            elif key == "wholesale_price":
                errors[key] = _("Enter what the sub-operator pays you for it.")
        if package["status"] != "active":
            errors["operator_id"] = _("The package is retired; reactivate it first.")
        if errors:
            raise ValidationError(_("Please correct the assignment."), errors)
        old = await conn.fetchrow(
            "SELECT wholesale_price_minor, retail_price_minor FROM package_assignments"
            " WHERE operator_id = $1 AND package_id = $2 FOR UPDATE", target["id"], package_id)
        new = {"wholesale_price_minor": prices["wholesale_price"], "retail_price_minor": prices["retail_price"]}
        await conn.execute(
            "INSERT INTO package_assignments (operator_id, package_id, wholesale_price_minor, retail_price_minor)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (operator_id, package_id) DO UPDATE"
            " SET wholesale_price_minor = EXCLUDED.wholesale_price_minor,"
            "     retail_price_minor = EXCLUDED.retail_price_minor",
            target["id"], package_id, new["wholesale_price_minor"], new["retail_price_minor"])
        detail = {"sub_operator_id": target["id"], "sub_operator": target["name"], "package": package["name"],
                  **(audit.changes(dict(old), new) if old else new)}
        await audit.record(conn, scope, "package.assign", "package", package_id, detail, ip,
                           operator_id=package["operator_id"])


async def unassign_package(conn: asyncpg.Connection, scope: Scope, package_id: int, operator_id: int,
                           ip: str | None = None) -> None:
    """Stop a sub-operator selling a package; refused while its customers use it (their bills need the price)."""
    async with conn.transaction():
        package = await get_package(conn, scope, package_id, for_update=True)
        old = await conn.fetchrow(
            "SELECT a.*, o.name AS operator_name FROM package_assignments a JOIN operators o ON o.id = a.operator_id"
            " WHERE a.package_id = $1 AND a.operator_id = $2 AND o.path <@ $3::ltree FOR UPDATE OF a",
            package_id, operator_id, scope.path)
        if old is None:
            raise NotFound("No such assignment.")
        users = await conn.fetchval("SELECT count(*) FROM customers WHERE operator_id = $1 AND package_id = $2",
                                    operator_id, package_id)
        if users:
            raise ValidationError(_("%(count)s of %(operator)s's customers use %(package)s: move them to another "
                                    "package first, or retire the package.", count=users,
                                    operator=old["operator_name"], package=package["name"]))
        await conn.execute("DELETE FROM package_assignments WHERE package_id = $1 AND operator_id = $2",
                           package_id, operator_id)
        await audit.record(conn, scope, "package.unassign", "package", package_id,
                           {"sub_operator_id": operator_id, "sub_operator": old["operator_name"],
                            "wholesale_price_minor": old["wholesale_price_minor"],
                            "retail_price_minor": old["retail_price_minor"]}, ip, operator_id=package["operator_id"])


# ---- billing profiles ----------------------------------------------------------------------------------

PROFILE_IN_SCOPE = """
    SELECT b.*, o.name AS owner_name, o.path::text AS owner_path
      FROM billing_profiles b JOIN operators o ON o.id = b.operator_id
     WHERE b.id = $1 AND o.path <@ $2::ltree
"""


async def get_billing_profile(conn: asyncpg.Connection, scope: Scope, profile_id: int,
                              for_update: bool = False) -> asyncpg.Record:
    row = await conn.fetchrow(PROFILE_IN_SCOPE + (" FOR UPDATE OF b" if for_update else ""), profile_id, scope.path)
    if row is None:
        raise NotFound("No such billing profile.")
    return row


async def list_billing_profiles(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT b.*, o.name AS owner_name,"
        "       (SELECT count(*) FROM customers c WHERE c.billing_profile_id = b.id) AS customers,"
        "       (SELECT count(*) FROM billing_profile_assignments a WHERE a.billing_profile_id = b.id) AS assignments"
        "  FROM billing_profiles b JOIN operators o ON o.id = b.operator_id"
        " WHERE o.path <@ $1::ltree ORDER BY b.status, lower(b.name)", scope.path)


async def billing_profiles_for(conn: asyncpg.Connection, scope: Scope,
                               operator_id: int | None = None) -> list[asyncpg.Record]:
    """Active billing profiles a customer of `operator_id` (default: the caller's operator) may be given: the
    operator's own, those assigned to it, and for an operator (not a sub-operator) its ancestors'."""
    return await _offered(conn, scope, operator_id, """
        SELECT b.*, o.name AS owner_name
          FROM operators t
          JOIN billing_profiles b ON b.status = 'active'
          JOIN operators o ON o.id = b.operator_id
         WHERE t.id = $1 AND t.path <@ $2::ltree
           AND radbill_sellable('billing_profile', b.id, t.id)
         ORDER BY lower(b.name)""")


async def create_billing_profile(conn: asyncpg.Connection, scope: Scope, form: Mapping,
                                 ip: str | None = None) -> asyncpg.Record:
    values = profile_values(form)
    try:
        async with conn.transaction():
            profile_id = await conn.fetchval(
                "INSERT INTO billing_profiles (operator_id, name, cycle_kind, billing_day, validity_days, due_days,"
                " grace_days, auto_suspend, billing_type, change_billing) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
                " $10) RETURNING id",
                scope.operator_id, *(values[c] for c in PROFILE_COLUMNS))
            await audit.record(conn, scope, "billing_profile.create", "billing_profile", profile_id, values, ip)
    except asyncpg.UniqueViolationError:
        raise _duplicate_name("billing profile") from None
    return await get_billing_profile(conn, scope, profile_id)


async def update_billing_profile(conn: asyncpg.Connection, scope: Scope, profile_id: int, form: Mapping,
                                 ip: str | None = None) -> asyncpg.Record:
    """Edit a profile; its customers' next bills follow the new cycle, due and grace days."""
    values = profile_values(form)
    try:
        async with conn.transaction():
            old = await get_billing_profile(conn, scope, profile_id, for_update=True)
            await conn.execute(
                "UPDATE billing_profiles SET name = $2, cycle_kind = $3, billing_day = $4, validity_days = $5,"
                " due_days = $6, grace_days = $7, auto_suspend = $8, billing_type = $9, change_billing = $10"
                " WHERE id = $1",
                profile_id, *(values[c] for c in PROFILE_COLUMNS))
            await audit.record(conn, scope, "billing_profile.edit", "billing_profile", profile_id,
                               audit.changes(dict(old), values), ip, operator_id=old["operator_id"])
    except asyncpg.UniqueViolationError:
        raise _duplicate_name("billing profile") from None
    return await get_billing_profile(conn, scope, profile_id)


async def set_billing_profile_status(conn: asyncpg.Connection, scope: Scope, profile_id: int, status: str,
                                     ip: str | None = None) -> None:
    await _set_status(conn, scope, "billing_profile", get_billing_profile, profile_id, status, ip)


async def billing_profile_assignments(conn: asyncpg.Connection, scope: Scope,
                                      profile_id: int) -> list[asyncpg.Record]:
    profile = await get_billing_profile(conn, scope, profile_id)
    return await conn.fetch(
        "SELECT a.*, o.name AS operator_name,"
        "       (SELECT count(*) FROM customers c WHERE c.operator_id = a.operator_id"
        "           AND c.billing_profile_id = a.billing_profile_id) AS customers"
        "  FROM billing_profile_assignments a JOIN operators o ON o.id = a.operator_id"
        " WHERE a.billing_profile_id = $1 AND o.path <@ $2::ltree ORDER BY lower(o.name)", profile["id"], scope.path)


async def assign_billing_profile(conn: asyncpg.Connection, scope: Scope, profile_id: int, operator_id: int | None,
                                 ip: str | None = None) -> None:
    async with conn.transaction():
        profile = await get_billing_profile(conn, scope, profile_id, for_update=True)
        target = await _assignment_target(conn, scope, profile["owner_path"], operator_id)
        if profile["status"] != "active":
            raise ValidationError(_("The billing profile is retired; reactivate it first."),
                                  {"operator_id": _("the profile is retired")})
        added = await conn.fetchval(
            "INSERT INTO billing_profile_assignments (operator_id, billing_profile_id) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING RETURNING true", target["id"], profile_id)
        if added:
            await audit.record(conn, scope, "billing_profile.assign", "billing_profile", profile_id,
                               {"sub_operator_id": target["id"], "sub_operator": target["name"],
                                "billing_profile": profile["name"]}, ip, operator_id=profile["operator_id"])


async def unassign_billing_profile(conn: asyncpg.Connection, scope: Scope, profile_id: int, operator_id: int,
                                   ip: str | None = None) -> None:
    """Refused while the sub-operator's customers use the profile."""
    async with conn.transaction():
        profile = await get_billing_profile(conn, scope, profile_id, for_update=True)
        old = await conn.fetchrow(
            "SELECT o.name AS operator_name FROM billing_profile_assignments a JOIN operators o ON o.id = a.operator_id"
            " WHERE a.billing_profile_id = $1 AND a.operator_id = $2 AND o.path <@ $3::ltree FOR UPDATE OF a",
            profile_id, operator_id, scope.path)
        if old is None:
            raise NotFound("No such assignment.")
        users = await conn.fetchval(
            "SELECT count(*) FROM customers WHERE operator_id = $1 AND billing_profile_id = $2", operator_id,
            profile_id)
        if users:
            raise ValidationError(_("%(count)s of %(operator)s's customers use %(profile)s: move them to another "
                                    "billing profile first, or retire the profile.", count=users,
                                    operator=old["operator_name"], profile=profile["name"]))
        await conn.execute("DELETE FROM billing_profile_assignments WHERE billing_profile_id = $1 AND operator_id = $2",
                           profile_id, operator_id)
        await audit.record(conn, scope, "billing_profile.unassign", "billing_profile", profile_id,
                           {"sub_operator_id": operator_id, "sub_operator": old["operator_name"]}, ip,
                           operator_id=profile["operator_id"])


# ---- zones ---------------------------------------------------------------------------------------------

async def list_zones(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    """Zones owned inside the caller's subtree, with their customer counts."""
    return await conn.fetch(
        "SELECT z.*, o.name AS owner_name, (SELECT count(*) FROM customers c WHERE c.zone_id = z.id) AS customers"
        "  FROM zones z JOIN operators o ON o.id = z.operator_id"
        " WHERE o.path <@ $1::ltree ORDER BY o.path, lower(z.name)", scope.path)


async def zones_for(conn: asyncpg.Connection, scope: Scope, operator_id: int | None = None) -> list[asyncpg.Record]:
    """Zones a customer of `operator_id` (default: the caller's operator) may be put in: that operator's own and
    its parent's (a sub-operator uses its operator's zones)."""
    return await _offered(conn, scope, operator_id, """
        SELECT z.id, z.name, z.operator_id, o.name AS owner_name
          FROM operators t
          JOIN zones z ON z.operator_id = t.id OR z.operator_id = t.parent_id
          JOIN operators o ON o.id = z.operator_id
         WHERE t.id = $1 AND t.path <@ $2::ltree
         ORDER BY lower(z.name)""")


def _zone_name(name: str) -> str:
    cleaned = " ".join(str(name or "").split())
    if not 1 <= len(cleaned) <= 80:
        raise ValidationError(_("Give the zone a name (up to 80 characters)."), {"name": _("enter a name")})
    return cleaned


async def _get_zone(conn, scope: Scope, zone_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT z.* FROM zones z JOIN operators o ON o.id = z.operator_id"
        " WHERE z.id = $1 AND o.path <@ $2::ltree FOR UPDATE OF z", zone_id, scope.path)
    if row is None:
        raise NotFound("No such zone.")
    return row


async def create_zone(conn: asyncpg.Connection, scope: Scope, name: str, ip: str | None = None) -> int:
    name = _zone_name(name)
    try:
        async with conn.transaction():
            zone_id = await conn.fetchval("INSERT INTO zones (operator_id, name) VALUES ($1, $2) RETURNING id",
                                          scope.operator_id, name)
            await audit.record(conn, scope, "zone.create", "zone", zone_id, {"name": name}, ip)
    except asyncpg.UniqueViolationError:
        raise _duplicate_name("zone") from None
    return zone_id


async def rename_zone(conn: asyncpg.Connection, scope: Scope, zone_id: int, name: str, ip: str | None = None) -> None:
    name = _zone_name(name)
    try:
        async with conn.transaction():
            old = await _get_zone(conn, scope, zone_id)
            await conn.execute("UPDATE zones SET name = $2 WHERE id = $1", zone_id, name)
            await audit.record(conn, scope, "zone.rename", "zone", zone_id, {"name": [old["name"], name]}, ip,
                               operator_id=old["operator_id"])
    except asyncpg.UniqueViolationError:
        raise _duplicate_name("zone") from None


async def delete_zone(conn: asyncpg.Connection, scope: Scope, zone_id: int, ip: str | None = None) -> None:
    """Delete a zone no customer is in."""
    async with conn.transaction():
        old = await _get_zone(conn, scope, zone_id)
        users = await conn.fetchval("SELECT count(*) FROM customers WHERE zone_id = $1", zone_id)
        if users:
            raise ValidationError(_("%(count)s customers are in %(zone)s: move them to another zone first.",
                                    count=users, zone=old["name"]))
        await conn.execute("DELETE FROM zones WHERE id = $1", zone_id)
        await audit.record(conn, scope, "zone.delete", "zone", zone_id, {"name": old["name"]}, ip,
                           operator_id=old["operator_id"])
