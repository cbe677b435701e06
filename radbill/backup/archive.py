"""The backup file: a tar of manifest.json, database.dump (pg_dump custom format) and radbill.env, optionally sealed
with a passphrase (AES-256-GCM, key from scrypt). Everything is checked before anything is restored: a wrong
passphrase, a truncated or altered file is a clear error, never a half-restored database."""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import tarfile
from dataclasses import dataclass
from pathlib import Path

from Crypto.Cipher import AES
from Crypto.Protocol.KDF import scrypt

from radbill.errors import RadbillError
from radbill.i18n import _

MAGIC = b"RADBILL-BACKUP-AESGCM-1\n"
FORMAT = 1
DUMP, ENV, MANIFEST = "database.dump", "radbill.env", "manifest.json"
# scrypt cost: ~0.1 s and 32 MiB per open on this kind of box; an attacker guessing pays the same per guess
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
CHUNK = 1 << 20


class BackupError(RadbillError):
    """A backup cannot be made or an archive cannot be read (wrong passphrase, damaged, not a radbill backup)."""


@dataclass(frozen=True)
class Unpacked:
    manifest: dict
    dump_path: Path
    env_text: str


def _private_file(path: Path):
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _key(passphrase: str, salt: bytes) -> bytes:
    return scrypt(passphrase.encode(), salt, 32, N=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)


def write_archive(target: Path, manifest: dict, dump_path: Path, env_text: str, passphrase: str | None) -> int:
    """Write the archive to `target` (mode 0600, via a temporary name so a crash leaves no half file); its size."""
    manifest = {**manifest, "format": FORMAT, "encrypted": bool(passphrase),
                "files": {DUMP: {"size": dump_path.stat().st_size, "sha256": _sha256(dump_path)},
                          ENV: {"size": len(env_text.encode()), "sha256": hashlib.sha256(env_text.encode()).hexdigest()}}}
    partial = target.with_name(target.name + ".partial")
    try:
        with _private_file(partial) as out:
            sink = _Sealer(out, passphrase) if passphrase else out
            with tarfile.open(fileobj=sink, mode="w|") as tar:
                for name, data in ((MANIFEST, json.dumps(manifest, indent=2).encode()), (ENV, env_text.encode())):
                    _add_bytes(tar, name, data)
                tar.add(dump_path, arcname=DUMP)
            if passphrase:
                sink.finish()
        partial.rename(target)
    finally:
        partial.unlink(missing_ok=True)
    return target.stat().st_size


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    tar.addfile(info, io.BytesIO(data))


class _Sealer:
    """A write-only stream that encrypts what tarfile writes: MAGIC | salt | nonce | ciphertext | tag."""

    def __init__(self, out, passphrase: str):
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        self.out = out
        self.cipher = AES.new(_key(passphrase, salt), AES.MODE_GCM, nonce=nonce)
        self.cipher.update(MAGIC)
        out.write(MAGIC + salt + nonce)

    def write(self, data: bytes) -> int:
        self.out.write(self.cipher.encrypt(bytes(data)))
        return len(data)

    def finish(self) -> None:
        self.out.write(self.cipher.digest())


def is_encrypted(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(MAGIC)) == MAGIC


def _decrypt(path: Path, passphrase: str, plain: Path) -> None:
    size = path.stat().st_size
    header = len(MAGIC) + 16 + 12
    if size < header + 16:
        raise BackupError(_("The backup file %(path)s is damaged (too short). Use another copy.", path=path))
    with open(path, "rb") as f, _private_file(plain) as out:
        f.seek(len(MAGIC))
        salt, nonce = f.read(16), f.read(12)
        cipher = AES.new(_key(passphrase, salt), AES.MODE_GCM, nonce=nonce)
        cipher.update(MAGIC)
        left = size - header - 16
        while left:
            block = f.read(min(CHUNK, left))
            left -= len(block)
            out.write(cipher.decrypt(block))
        try:
            cipher.verify(f.read(16))
        except ValueError:
            raise BackupError(_("The passphrase is wrong, or the backup file %(path)s is damaged. Check the "
                                "passphrase file; if it is right, use another copy of the backup.",
                                path=path)) from None


def read_archive(path: Path, workdir: Path, passphrase: str | None) -> Unpacked:
    """Decrypt (if sealed) and unpack into `workdir`, checking every file against the manifest."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(_("There is no backup file at %(path)s.", path=path))
    tar_path = path
    if is_encrypted(path):
        if not passphrase:
            raise BackupError(_("The backup %(path)s is encrypted: give its passphrase with --passphrase-file.",
                                path=path))
        tar_path = workdir / "archive.tar"
        _decrypt(path, passphrase, tar_path)
    damaged = _("The backup file %(path)s is damaged or is not a radbill backup. Use another copy.", path=path)
    try:
        with tarfile.open(tar_path, mode="r:") as tar:
            names = set(tar.getnames())
            if not {MANIFEST, ENV, DUMP} <= names:
                raise BackupError(damaged)
            manifest = json.loads(tar.extractfile(MANIFEST).read())
            env_bytes = tar.extractfile(ENV).read()
            # copied by name into a file of ours: nothing in the archive chooses where anything is written
            with tar.extractfile(DUMP) as src, _private_file(workdir / DUMP) as dst:
                while block := src.read(CHUNK):
                    dst.write(block)
    except (tarfile.TarError, OSError, EOFError, ValueError, KeyError, AttributeError):
        raise BackupError(damaged) from None
    dump_path = workdir / DUMP
    expected = manifest.get("files", {})
    if (expected.get(DUMP, {}).get("sha256") != _sha256(dump_path)
            or expected.get(ENV, {}).get("sha256") != hashlib.sha256(env_bytes).hexdigest()):
        raise BackupError(damaged)
    if tar_path != path:
        tar_path.unlink()
    return Unpacked(manifest, dump_path, env_bytes.decode())
