"""The aiohttp + jinja2 web admin for every role, scoped to the caller's subtree."""
