"""Local fake gateways for tests and `make run`: loopback aiohttp servers speaking each gateway's documented API."""

from aiohttp import web


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Start `app` on host:port (0: a free port); returns the runner and the base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 -- the port the OS chose
    return runner, f"http://{host}:{bound}"
