"""MS-CHAPv2 client side (RFC 2759), so radtest and the tests can log in as a PPP client would."""

from __future__ import annotations

import hashlib
import os

from Crypto.Cipher import DES
from Crypto.Hash import MD4


def nt_password_hash(password: str) -> bytes:
    return MD4.new(password.encode("utf-16-le")).digest()


def _des_key(seven: bytes) -> bytes:
    """Spread 56 key bits over 8 bytes (parity bits left zero; DES ignores them)."""
    bits = int.from_bytes(seven, "big")
    return bytes(((bits >> (49 - 7 * i)) & 0x7F) << 1 for i in range(8))


def challenge_response(challenge: bytes, password_hash: bytes) -> bytes:
    padded = password_hash + b"\x00" * 5
    return b"".join(DES.new(_des_key(padded[i:i + 7]), DES.MODE_ECB).encrypt(challenge) for i in (0, 7, 14))


def challenge_hash(peer_challenge: bytes, authenticator_challenge: bytes, username: str) -> bytes:
    return hashlib.sha1(peer_challenge + authenticator_challenge + username.encode()).digest()[:8]


def build(username: str, password: str) -> tuple[bytes, bytes]:
    """(MS-CHAP-Challenge, MS-CHAP2-Response) attribute values for an Access-Request."""
    authenticator_challenge, peer_challenge = os.urandom(16), os.urandom(16)
    nt_response = challenge_response(challenge_hash(peer_challenge, authenticator_challenge, username),
                                     nt_password_hash(password))
    ident = b"\x01"
    return authenticator_challenge, ident + b"\x00" + peer_challenge + b"\x00" * 8 + nt_response
