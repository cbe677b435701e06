"""Which VAT profile taxes a bill (radbill_vat_profile_for): the package's, else the nearest operator's, else
none; the arithmetic of each (inclusive extracts, exclusive adds, half-up on minor units) and the profile the
bill records for its invoice."""

from datetime import UTC, date, datetime

import pytest

from radbill.billing.pricing import apply_vat
from radbill.services import billing
from tests import factories as f
from tests.billing.helpers import bills_of, customer, isp

NOW = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)


async def _profile(db, operator, rate, inclusive, **values):
    return await f.insert(db, "vat_profiles", {"operator_id": operator["id"], "name": f"VAT {rate}",
                                               "rate_basis_points": rate, "price_includes_vat": inclusive,
                                               **values})


async def _bill(db, w, price):
    await db.execute("UPDATE packages SET price_minor = $2 WHERE id = $1", w.package["id"], price)
    await db.execute("DELETE FROM package_assignments WHERE package_id = $1", w.package["id"])
    c = await customer(db, w, owner=w.operator, billing_anchor=date(2024, 1, 1))
    assert await billing.generate_bills(db, NOW, w.system, [c["id"]]) == 1
    (bill,) = await bills_of(db, c["id"])
    return bill


@pytest.mark.parametrize(("price", "rate", "inclusive", "net", "vat", "total"), [
    (50000, 1500, False, 50000, 7500, 57500),   # exclusive: 15 % added
    (50000, 1500, True, 43478, 6522, 50000),    # inclusive: 50000 * 1500 / 11500 = 6521.74 → 6522
    (99, 750, False, 99, 7, 106),               # 7.425 → 7
    (1, 5000, False, 1, 1, 2),                  # 0.5 → 1 (half up)
    (3, 5000, True, 2, 1, 3),                   # 3 * 5000 / 15000 = 1.0
])
async def test_the_packages_profile_wins_over_the_operators(db, price, rate, inclusive, net, vat, total):
    w = await isp(db, billing_day=1)
    operator_vat = await _profile(db, w.operator, 500, False)
    await db.execute("UPDATE operators SET vat_profile_id = $1 WHERE id = $2", operator_vat["id"], w.operator["id"])
    package_vat = await _profile(db, w.operator, rate, inclusive, registration_number="000123456-0101")
    await db.execute("UPDATE packages SET vat_profile_id = $1 WHERE id = $2", package_vat["id"], w.package["id"])
    bill = await _bill(db, w, price)
    assert (bill["amount_minor"], bill["vat_minor"], bill["total_minor"]) == (net, vat, total)
    pure = apply_vat(price, rate, inclusive)
    assert (pure.net_minor, pure.vat_minor, pure.total_minor) == (net, vat, total)  # the pure rule agrees
    assert bill["vat_profile_id"] == package_vat["id"]


async def test_an_inactive_package_profile_falls_back_to_the_operators_then_to_none(db):
    w = await isp(db, billing_day=1)
    group_vat = await _profile(db, w.root, 1000, False)
    await db.execute("UPDATE operators SET vat_profile_id = $1 WHERE id = $2", group_vat["id"], w.root["id"])
    retired = await _profile(db, w.operator, 1500, False, active=False)
    await db.execute("UPDATE packages SET vat_profile_id = $1 WHERE id = $2", retired["id"], w.package["id"])
    bill = await _bill(db, w, 10000)
    assert (bill["vat_minor"], bill["vat_profile_id"]) == (1000, group_vat["id"])  # nearest up the line

    bare = await isp(db, billing_day=1)
    bill = await _bill(db, bare, 10000)
    assert (bill["vat_minor"], bill["total_minor"], bill["vat_profile_id"]) == (0, 10000, None)
