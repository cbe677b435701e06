"""The customers' front door (aiohttp): pay pages opened from a pay link, gateway returns and receipts. No staff session."""
