"""Secrets at rest (gateway credentials, SMS provider keys): sealed with AES-256-GCM under a key from the environment.

Keys: RADBILL_DATA_KEYS="kid2:<64 hex>,kid1:<64 hex>" (var/radbill.env; the first is the one that seals, the others
still open what they sealed, so a key is rotated without downtime: add a new key first, run `radbill
rotate-secrets`, then drop the old one). A sealed value is text: "sb1:<kid>:<base64 nonce|ciphertext|tag>". The
associated data binds a value to where it is stored (e.g. "sms_gateways.api_key:7"), so a sealed value copied into
another row does not open.
"""

from __future__ import annotations

import base64
import os
import secrets as _secrets

from Crypto.Cipher import AES

PREFIX = "sb1"
ENV = "RADBILL_DATA_KEYS"


class SecretBoxError(Exception):
    """A sealed value that cannot be opened (unknown key, tampered, or bound to another place)."""


def new_key_entry(kid: str | None = None) -> str:
    return f"{kid or 'k' + _secrets.token_hex(3)}:{_secrets.token_hex(32)}"


def _keys(spec: str | None = None) -> list[tuple[str, bytes]]:
    spec = os.environ.get(ENV, "") if spec is None else spec
    keys = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        kid, _, hexkey = part.partition(":")
        key = bytes.fromhex(hexkey)
        if not kid or len(key) != 32:
            raise SecretBoxError(f"{ENV}: each entry must be kid:<64 hex digits>")
        keys.append((kid, key))
    if not keys:
        raise SecretBoxError(f"{ENV} is not set: no key to seal secrets with")
    return keys


def seal(plaintext: str, context: str, *, spec: str | None = None) -> str:
    kid, key = _keys(spec)[0]
    nonce = _secrets.token_bytes(12)
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
    cipher.update(context.encode())
    body, tag = cipher.encrypt_and_digest(plaintext.encode())
    return f"{PREFIX}:{kid}:" + base64.urlsafe_b64encode(nonce + body + tag).decode()


def is_sealed(value: str | None) -> bool:
    return bool(value) and value.startswith(PREFIX + ":")


def open_sealed(sealed: str, context: str, *, spec: str | None = None) -> str:
    try:
        prefix, kid, encoded = sealed.split(":", 2)
        raw = base64.urlsafe_b64decode(encoded.encode())
    except (ValueError, TypeError) as exc:
        raise SecretBoxError("not a sealed value") from exc
    if prefix != PREFIX or len(raw) < 28:
        raise SecretBoxError("not a sealed value")
    key = dict(_keys(spec)).get(kid)
    if key is None:
        raise SecretBoxError(f"sealed with key {kid!r}, which is no longer configured")
    cipher = AES.new(key, AES.MODE_GCM, nonce=raw[:12])
    cipher.update(context.encode())
    try:
        return cipher.decrypt_and_verify(raw[12:-16], raw[-16:]).decode()
    except ValueError as exc:
        raise SecretBoxError("sealed value was altered or belongs to another place") from exc


def needs_reseal(sealed: str, *, spec: str | None = None) -> bool:
    """True when the value was sealed with a key other than the current one (rotation pending)."""
    return sealed.split(":", 2)[1] != _keys(spec)[0][0]
