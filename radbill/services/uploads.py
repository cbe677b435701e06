"""Customer photos (ticket attachments): the type decided by magic bytes, stored by content hash outside any web
root (var/uploads/<sha256>), read back with the type recorded when it was stored."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from radbill.errors import ValidationError
from radbill.i18n import _

MAX_PHOTO_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class StoredPhoto:
    sha256: str
    content_type: str
    size_bytes: int


def sniff_image(data: bytes) -> str | None:
    """'image/jpeg', 'image/png' or 'image/webp' from the file's first bytes; None for anything else (the
    file name and the browser's Content-Type are the sender's claim, not evidence)."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_photo(data: bytes) -> str:
    """The photo's type, or ValidationError saying what to send instead."""
    if not data:
        raise ValidationError(_("The photo is empty. Choose the photo again."), {"photo": "empty"})
    if len(data) > MAX_PHOTO_BYTES:
        raise ValidationError(_("The photo is larger than 2 MB. Send a smaller photo."), {"photo": "too large"})
    content_type = sniff_image(data)
    if content_type is None:
        raise ValidationError(_("Only JPEG, PNG or WebP photos can be attached. Send the photo in one of these "
                                "formats."), {"photo": "wrong type"})
    return content_type


def store_photo(uploads: Path, data: bytes) -> StoredPhoto:
    """Check and write the photo as uploads/<sha256> (written to a temporary name, then renamed, so a reader
    never sees half a file; the same photo twice is one file)."""
    content_type = check_photo(data)
    digest = hashlib.sha256(data).hexdigest()
    uploads.mkdir(parents=True, exist_ok=True, mode=0o750)
    target = uploads / digest
    if not target.exists():
        temporary = uploads / f".{digest}.{os.getpid()}.tmp"
        temporary.write_bytes(data)
        temporary.replace(target)
    return StoredPhoto(digest, content_type, len(data))


def photo_path(uploads: Path, sha256: str) -> Path:
    """Where a stored photo lives; the name is checked so a stored value can never walk out of `uploads`."""
    if len(sha256) != 64 or any(ch not in "0123456789abcdef" for ch in sha256):
        raise ValueError("not a sha256 hex digest")
    return uploads / sha256
