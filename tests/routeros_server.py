"""A RouterOS API server on loopback speaking the real sentence protocol (length-prefixed words, a sentence ends
with an empty word): post-6.43 `/login =name= =password=`, `/ppp/secret/print`, `/ppp/profile/print`, `/quit`.
With `legacy_login` it logs in like RouterOS before 6.43: `/login` (whatever its arguments) answers
`!done =ret=<challenge>`, then `/login =name= =response=00<md5(0x00 + password + challenge)>` logs in.

Replies as RouterOS does: `!re` per row, then `!done`; a wrong login is `!trap =message=invalid user name or
password (6)` then `!done`; an unknown command is `!trap =message=no such command` then `!done`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass, field


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n < 0x4000:
        return (n | 0x8000).to_bytes(2, "big")
    if n < 0x200000:
        return (n | 0xC00000).to_bytes(3, "big")
    if n < 0x10000000:
        return (n | 0xE0000000).to_bytes(4, "big")
    return b"\xf0" + n.to_bytes(4, "big")


def encode_sentence(*words: str) -> bytes:
    out = b""
    for word in words:
        data = word.encode("utf-8")
        out += encode_length(len(data)) + data
    return out + b"\x00"


async def read_length(reader: asyncio.StreamReader) -> int:
    first = (await reader.readexactly(1))[0]
    if first < 0x80:
        return first
    if first < 0xC0:
        return ((first & 0x3F) << 8) + (await reader.readexactly(1))[0]
    if first < 0xE0:
        return ((first & 0x1F) << 16) + int.from_bytes(await reader.readexactly(2), "big")
    if first < 0xF0:
        return ((first & 0x0F) << 24) + int.from_bytes(await reader.readexactly(3), "big")
    return int.from_bytes(await reader.readexactly(4), "big")


async def read_sentence(reader: asyncio.StreamReader) -> list[str]:
    words = []
    while (length := await read_length(reader)) != 0:
        words.append((await reader.readexactly(length)).decode("utf-8", errors="replace"))
    return words


@dataclass
class RouterOSServer:
    """`async with RouterOSServer(secrets=[...], profiles=[...]) as router:` → router.port on 127.0.0.1."""

    username: str = "api"
    password: str = "api-pass"
    secrets: list[dict] = field(default_factory=list)
    profiles: list[dict] = field(default_factory=list)
    port: int = 0
    commands: list[str] = field(default_factory=list)
    legacy_login: bool = False
    _server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> RouterOSServer:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        logged_in = False
        challenge = None
        try:
            while True:
                words = await read_sentence(reader)
                if not words:
                    continue
                command = words[0]
                self.commands.append(command)
                args = dict(w[1:].split("=", 1) for w in words[1:] if w.startswith("=") and "=" in w[1:])
                if command == "/login" and self.legacy_login and "response" not in args:
                    challenge = os.urandom(16)  # pre-6.43: the password is ignored, a challenge comes back
                    writer.write(encode_sentence("!done", f"=ret={challenge.hex()}"))
                elif command == "/login" and self.legacy_login:
                    expected = "00" + hashlib.md5(b"\x00" + self.password.encode() + (challenge or b""),
                                                  usedforsecurity=False).hexdigest()
                    if challenge and args.get("name") == self.username and args.get("response") == expected:
                        logged_in = True
                        writer.write(encode_sentence("!done"))
                    else:
                        writer.write(encode_sentence("!trap", "=message=cannot log in"))
                        writer.write(encode_sentence("!done"))
                elif command == "/login":
                    if args.get("name") == self.username and args.get("password") == self.password:
                        logged_in = True
                        writer.write(encode_sentence("!done"))
                    else:
                        writer.write(encode_sentence("!trap", "=message=invalid user name or password (6)"))
                        writer.write(encode_sentence("!done"))
                elif command == "/quit":
                    writer.write(encode_sentence("!fatal", "session terminated on request"))
                    await writer.drain()
                    break
                elif not logged_in:
                    writer.write(encode_sentence("!trap", "=message=not logged in"))
                    writer.write(encode_sentence("!done"))
                elif command in ("/ppp/secret/print", "/ppp/profile/print"):
                    rows = self.secrets if "secret" in command else self.profiles
                    for n, row in enumerate(rows, start=1):
                        writer.write(encode_sentence("!re", f"=.id=*{n:X}", *(f"={k}={v}" for k, v in row.items())))
                    writer.write(encode_sentence("!done"))
                else:
                    writer.write(encode_sentence("!trap", "=message=no such command"))
                    writer.write(encode_sentence("!done"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
