"""Pure billing arithmetic: periods, prices, proration and money in minor units (no I/O)."""
