"""Mapping proposals on header variants seen in real exports (other billing systems, Excel sheets, MikroTik)."""

import pytest

from radbill.importing import FIELDS, check_mapping, column_samples, mapping_warnings, propose_mapping
from radbill.importing.mikrotik import HEADERS as MIKROTIK_HEADERS


@pytest.mark.parametrize("header, field", [
    ("Name", "name"), ("Customer Name", "name"), ("FULL_NAME", "name"), ("Client", "name"),
    ("Phone", "mobile"), ("Mobile No.", "mobile"), ("Contact Number", "mobile"), ("Customer Mobile", "mobile"),
    ("Cell", "mobile"), ("E-mail", "email"), ("Email Address", "email"), ("NID", "national_id"),
    ("Area", "zone"), ("Zone Name", "zone"), ("User Name", "username"), ("PPPoE Username", "username"),
    ("UserID", "username"), ("Login", "username"), ("Password", "radius_password"), ("PPPoE Password", "radius_password"),
    ("Speed", "package"), ("Profile", "package"), ("Package Name", "package"), ("Internet Package", "package"),
    ("Plan", "package"), ("Connection Type", "connection_type"), ("IP Address", "static_ip"),
    ("MAC Address", "mac_address"), ("Caller-ID", "mac_address"), ("Monthly Bill", "custom_price"),
    ("Billing Cycle", "billing_profile"), ("Simultaneous Use", "simultaneous_use"),
])
def test_header_variant(header, field):
    assert propose_mapping(["Serial", header]) == {1: field}


def test_a_whole_real_world_header_row():
    headers = ["SL", "Client ID", "Customer Name", "Mobile No", "Area", "Address", "Speed", "Monthly Bill", "Status"]
    assert propose_mapping(headers) == {1: "username", 2: "name", 3: "mobile", 4: "zone", 5: "address",
                                        6: "package", 7: "custom_price"}


def test_each_field_is_proposed_once_and_the_template_maps_to_itself():
    assert propose_mapping(["Phone", "Mobile"]) == {1: "mobile"} or propose_mapping(["Phone", "Mobile"]) == {0: "mobile"}
    labels = [f.label for f in FIELDS]
    assert propose_mapping(labels) == {i: f.key for i, f in enumerate(FIELDS)}
    assert sorted(propose_mapping(MIKROTIK_HEADERS).values()) == sorted(
        ["name", "username", "radius_password", "package", "connection_type", "static_ip", "mac_address"])


def test_missing_required_fields_need_a_column_or_a_default():
    problems = check_mapping({0: "name", 1: "username"}, {})
    assert any("Package" in p and "every row" in p for p in problems)
    assert check_mapping({0: "name", 1: "username"}, {"package_id": "1", "billing_profile_id": "2"}) == []
    assert any("two columns" in p for p in check_mapping({0: "name", 1: "name", 2: "username"},
                                                          {"package_id": "1", "billing_profile_id": "2"}))


@pytest.mark.parametrize("headers, expected", [
    (["Name", "Secret", "Profile"], {0: "name", 1: "radius_password", 2: "package"}),  # MikroTik PPP secret export
    (["Login", "PPP Secret"], {0: "username", 1: "radius_password"}),
    (["PPPoE User", "PPPoE Secret"], {0: "username", 1: "radius_password"}),
])
def test_a_secret_column_is_the_password_not_the_username(headers, expected):
    assert propose_mapping(headers) == expected


def test_samples_are_the_first_three_different_values_that_say_something():
    rows = [["a", "", "x"], ["b", "", "x"], ["a", " ", "y"], ["c", "d", "z"], ["e", "f", "w"], ["short"]]
    assert column_samples(rows, 3) == [["a", "b", "c"], ["d", "f"], ["x", "y", "z"]]
    assert column_samples([], 2) == [[], []]


def test_an_unmapped_column_that_looks_like_usernames_is_warned_about():
    headers = ["Customer Name", "PPPoE Username", "Password", "Login"]
    warnings = mapping_warnings(headers, {0: "name", 2: "radius_password", 3: "username"})
    assert len(warnings) == 1 and "“PPPoE Username”" in warnings[0] and "Username" in warnings[0]
    assert mapping_warnings(headers, {0: "name", 1: "username", 2: "radius_password", 3: "mobile"}) == []
    # a password column left out is not a username column
    assert mapping_warnings(["Secret", "PPPoE Password", "Notes"], {}) == []


def test_an_ip_pool_column_names_a_pool_and_makes_the_row_static():
    from radbill.importing import Catalog, row_form

    assert propose_mapping(["User", "IP Pool", "Pool"]) == {0: "username", 1: "ip_pool"}  # a bare "Pool" may be
    # the router's own dynamic pool: left for the user to map
    catalog = Catalog(pools=[(7, "Dhanmondi Static")])
    mapping = {0: "username", 1: "ip_pool", 2: "connection_type"}
    form, errors = row_form(["u1", "dhanmondi  static", "PPPoE"], mapping, {}, catalog)
    assert (form["static_pool"], form["connection_type"], errors) == ("7", "static", {})
    form, errors = row_form(["u2", "", ""], mapping, {}, catalog)  # no pool named: no pool, still PPPoE
    assert (form["static_pool"], form["connection_type"], errors) == ("", "pppoe", {})
    _form, errors = row_form(["u3", "Gulshan", ""], mapping, {}, catalog)
    assert errors == {"static_pool": "No IP pool named “Gulshan” is available to you: map it, or add it first."}
