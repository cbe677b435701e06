"""The portal tests' world: a real portal on loopback, its owner connection, pool and the fake bKash."""

from dataclasses import dataclass

import aiohttp
import asyncpg


@dataclass
class Portal:
    url: str
    owner: asyncpg.Connection
    pool: asyncpg.Pool
    http: aiohttp.ClientSession
    fake: object
    w: object
    token: str
