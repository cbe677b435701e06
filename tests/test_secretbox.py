import pytest

from radbill import secretbox


def test_seal_opens_only_in_its_place_and_under_a_configured_key():
    old, new = secretbox.new_key_entry("old"), secretbox.new_key_entry("new")
    sealed = secretbox.seal("api-key-123", "sms_gateways.api_key:7", spec=old)
    assert "api-key-123" not in sealed and secretbox.is_sealed(sealed)
    # rotation: the new key seals, the old one still opens what it sealed
    assert secretbox.open_sealed(sealed, "sms_gateways.api_key:7", spec=f"{new},{old}") == "api-key-123"
    assert secretbox.needs_reseal(sealed, spec=f"{new},{old}")
    with pytest.raises(secretbox.SecretBoxError):
        secretbox.open_sealed(sealed, "sms_gateways.api_key:8", spec=old)  # copied into another row
    with pytest.raises(secretbox.SecretBoxError):
        secretbox.open_sealed(sealed, "sms_gateways.api_key:7", spec=new)  # old key dropped
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(secretbox.SecretBoxError):
        secretbox.open_sealed(tampered, "sms_gateways.api_key:7", spec=old)
