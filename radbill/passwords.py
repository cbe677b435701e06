"""Password hashing (argon2id) and generated secrets."""

from __future__ import annotations

import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_ALPHABET = string.ascii_letters + string.digits


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def generate(length: int = 16, alphabet: str = _ALPHABET) -> str:
    """A random password or secret from an unambiguous alphabet."""
    # one urandom read, not one per character (an import of 10,000 rows without passwords makes 10,000); bytes
    # at or above the largest multiple of the alphabet's size are dropped, so every character stays equally likely
    size = len(alphabet)
    limit = 256 - 256 % size
    chosen: list[str] = []
    while len(chosen) < length:
        chosen.extend(alphabet[b % size] for b in secrets.token_bytes(length * 2) if b < limit)
    return "".join(chosen[:length])


def generate_nas_secret() -> str:
    """RADIUS shared secrets: 32 characters, no quotes or backslashes (they end up in config files)."""
    return generate(32)
