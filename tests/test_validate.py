import pytest

from radbill import validate


@pytest.mark.parametrize(("typed", "e164"), [
    ("01712345678", "+8801712345678"), ("01712-345678", "+8801712345678"), ("+880 1712 345678", "+8801712345678"),
    ("8801712345678", "+8801712345678"), ("1712345678", "+8801712345678"), ("+88001712345678", "+8801712345678"),
    ("(017) 1234-5678", "+8801712345678"), ("01312345678", "+8801312345678"), ("+44 7700 900123", "+447700900123"),
])
def test_mobile_numbers_are_normalised_to_e164(typed, e164):
    assert validate.mobile(typed) == e164


@pytest.mark.parametrize("bad", ["0171234567", "01212345678", "017123456789", "abc", "", "+0123", "017 1234 567x"])
def test_bad_mobile_numbers_are_refused_with_a_sentence(bad):
    with pytest.raises(ValueError, match=r"\w+ \w+"):
        validate.mobile(bad)


@pytest.mark.parametrize(("value", "ok"), [("alice", True), ("a.b-c_d@isp", True), ("-lead", False),
                                            ("with space", False), ("x" * 65, False), ("quote'", False)])
def test_radius_usernames(value, ok):
    if ok:
        assert validate.radius_username(value) == value
    else:
        with pytest.raises(ValueError):
            validate.radius_username(value)


def test_ipv4_hosts():
    assert validate.ipv4_host(" 10.20.0.7 ") == "10.20.0.7"
    for bad in ("10.20.0", "::1", "0.0.0.0", "127.0.0.1", "224.0.0.1"):
        with pytest.raises(ValueError):
            validate.ipv4_host(bad)


@pytest.mark.parametrize(("value", "ok"), [("s3cret", True), ("with space & ~punct!", True), ("x" * 128, True),
                                            ("x" * 129, False), ("", False), ("pässword", False), ("tab\there", False),
                                            ("nul\x00", False), ("পাসওয়ার্ড", False), ("del\x7f", False)])
def test_radius_passwords_are_printable_ascii(value, ok):
    if ok:
        assert validate.radius_password(value) == value
    else:
        with pytest.raises(ValueError, match="printable ASCII"):
            validate.radius_password(value)


@pytest.mark.parametrize("raw, expected", [
    ("42", 42), (" 7 ", 7), (42, 42), ("٣", None), ("３", None), ("४२", None), ("১২", None), ("", None),
    (None, None), ("-1", None), ("1e3", None), ("9" * 19, None), ("9" * 18, 10**18 - 1),
])
def test_optional_id_reads_ascii_digits_only(raw, expected):
    assert validate.optional_id(raw) == expected
